// bandwidth's config: the four limits from the top level or `runtimeConfig.bandwidth` (capability `bandwidth`),
// chosen and validated as the reference does (plugins/meta/bandwidth/main.go parseConfig, getBandwidth) (pure).
import * as z from 'zod/mini'
import { goField } from '../decode/go-json.ts'
import { parseConfigPart } from '../plugin/config.ts'
import { invalidConfig } from '../plugin/errors.ts'

/** Rates in bits per second, bursts in bits; 0 = no limit in that direction. */
export interface BandwidthLimits {
  readonly ingressRate: number
  readonly ingressBurst: number
  readonly egressRate: number
  readonly egressBurst: number
}

/** bandwidth's options after validation. */
export interface BandwidthConfig {
  readonly limits: BandwidthLimits
  readonly prevResult: unknown
}

const MAX_UINT32 = 0xffffffff
const amount = (what: string) => z.optional(z.number({ error: `${what}: expected a whole number` })
  .check(z.int({ error: `${what}: expected a whole number` }), z.gte(0, { error: `${what} must not be negative` }), z.lte(Number.MAX_SAFE_INTEGER, { error: `${what} is too large` })))

const entry = () => ({
  ingressRate: amount('ingressRate'),
  ingressBurst: amount('ingressBurst'),
  egressRate: amount('egressRate'),
  egressBurst: amount('egressBurst'),
})

/** The bandwidth options as accepted on stdin (docs/configuration.md is checked against it). */
export const bandwidthConfigSchema = z.object({
  ...entry(),
  stateDir: z.optional(z.string({ error: 'expected a directory path' })),
  runtimeConfig: z.optional(z.object({ bandwidth: z.optional(z.object(entry())) })),
})

const KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const

/** Parses the limits: the top-level ones when any top-level key is present (the reference's embedded pointer), else runtimeConfig's. */
export function parseBandwidthConfig(raw: Readonly<Record<string, unknown>>): BandwidthConfig {
  const c = parseConfigPart(bandwidthConfigSchema, raw, '')
  const topLevel = KEYS.some((k) => goField(raw, k) !== undefined)
  const from = topLevel ? c : c.runtimeConfig?.bandwidth ?? {}
  const limits: BandwidthLimits = {
    ingressRate: from.ingressRate ?? 0,
    ingressBurst: from.ingressBurst ?? 0,
    egressRate: from.egressRate ?? 0,
    egressBurst: from.egressBurst ?? 0,
  }
  const where = topLevel ? '' : 'runtimeConfig.bandwidth.'
  pair(limits.ingressRate, limits.ingressBurst, `${where}ingress`)
  pair(limits.egressRate, limits.egressBurst, `${where}egress`)
  return { limits, prevResult: goField(raw, 'prevResult') }
}

/** True when there is nothing to shape: ADD passes prevResult on. */
export function isUnlimited(l: BandwidthLimits): boolean {
  return l.ingressRate === 0 && l.ingressBurst === 0 && l.egressRate === 0 && l.egressBurst === 0
}

// Rate and burst come as a pair; the kernel keeps bytes, so a rate under 8 bit/s would be 0 (the reference
// fails in createTBF then); the burst must fit 32 bits of bytes (validateRateAndBurst).
function pair(rate: number, burst: number, what: string): void {
  if (burst === 0 && rate !== 0) throw invalidConfig(`if rate is set, burst must also be set (${what}Rate ${rate}, ${what}Burst 0)`)
  if (rate === 0 && burst !== 0) throw invalidConfig(`if burst is set, rate must also be set (${what}Burst ${burst}, ${what}Rate 0)`)
  if (Math.floor(burst / 8) >= MAX_UINT32) throw invalidConfig(`burst cannot be more than 4GB (${what}Burst ${burst})`)
  if (rate !== 0 && rate < 8) throw invalidConfig(`invalid rate: ${what}Rate ${rate} is under 8 bit/s (one byte a second)`)
  if (burst !== 0 && burst < 8) throw invalidConfig(`invalid burst: ${what}Burst ${burst} is under 8 bits (one byte)`)
}
