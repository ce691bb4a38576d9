// The host-local config (the reference's backend/allocator/config.go): ipam section, legacy range, runtime ranges, requested IPs. Pure.
import * as z from 'zod/mini'
import { ipEquals, parseCidr, parseIp, parseIpOrCidr, type Ip } from '../plugin/addr.ts'
import { configField, parseConfigPart, type NetConf } from '../plugin/config.ts'
import type { CniArgs } from '../plugin/env.ts'
import { CniError, ErrorCode, invalidConfig } from '../plugin/errors.ts'
import type { ResultRoute } from '../plugin/result.ts'
import { compareVersions } from '../plugin/version.ts'
import { canonicalizeRangeSets, rangeSetFamily, type RangeInput, type RangeSet } from './range.ts'

/** The reference's default data directory. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks'

/** Where a network's reservations live: `<dataDir>/<network>`. */
export interface StoreLocation {
  readonly dataDir: string
  readonly network: string
}

/** The parsed, canonical host-local config. */
export interface IpamConfig {
  readonly location: StoreLocation
  readonly cniVersion: string
  /** Final order: runtimeConfig.ipRanges, the legacy top-level range, then `ranges`; the index is the rangeID. */
  readonly rangeSets: readonly RangeSet[]
  readonly routes: readonly ResultRoute[]
  readonly resolvConf: string | undefined
  /** Requested addresses, deduplicated, in the order CNI_ARGS IP, args.cni.ips, runtimeConfig.ips. */
  readonly requested: readonly Ip[]
}


const optionalText = z.optional(z.string())
const rangeSchema = z.object({ subnet: z.string(), rangeStart: optionalText, rangeEnd: optionalText, gateway: optionalText })
const rangeSetsSchema = z.array(z.array(rangeSchema))
const optionalInt = z.optional(z.int())
const routeSchema = z.object({ dst: z.string(), gw: optionalText, mtu: optionalInt, advmss: optionalInt, priority: optionalInt, table: optionalInt, scope: optionalInt })
const ipamSchema = z.object({
  ranges: z.optional(rangeSetsSchema),
  routes: z.optional(z.array(routeSchema)),
  dataDir: optionalText,
  resolvConf: optionalText,
  subnet: optionalText,
  rangeStart: optionalText,
  rangeEnd: optionalText,
  gateway: optionalText,
})
const ipListSchema = z.optional(z.array(z.string()))
const runtimeSchema = z.object({ ipRanges: z.optional(rangeSetsSchema), ips: ipListSchema })
const argsSchema = z.object({ cni: z.optional(z.object({ ips: ipListSchema })) })

/** Every config part host-local reads, by where it sits (docs/configuration.md is checked against them). */
export const hostLocalConfigSchemas = { ipam: ipamSchema, runtimeConfig: runtimeSchema, 'args.cni.ips': ipListSchema }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

// The ipam section as an object (keys inside it are matched like Go's by the schemas' decoding).
function ipamSection(conf: NetConf): Record<string, unknown> {
  const ipam = configField(conf, 'ipam')
  if (ipam === undefined) throw invalidConfig("IPAM config missing 'ipam' key")
  if (!isObject(ipam)) throw invalidConfig(`invalid ipam: must be an object (got ${JSON.stringify(ipam)})`)
  return ipam
}

/** Just the data directory and network name: all DEL and GC need, so they work even when ranges became invalid. */
export function parseStoreLocation(conf: NetConf): StoreLocation {
  const ipam = parseConfigPart(z.object({ dataDir: optionalText }), ipamSection(conf), 'ipam')
  return { dataDir: ipam.dataDir || DEFAULT_DATA_DIR, network: conf.name }
}

/** Parses and validates the whole host-local config (code 7 naming the field, or the reference's message). */
export function parseIpamConfig(conf: NetConf, cniArgs: CniArgs): IpamConfig {
  const ipam = parseConfigPart(ipamSchema, ipamSection(conf), 'ipam')
  // runtimeConfig is optional and may be null in Go-written configs; only its ipRanges and ips matter here.
  const runtime = parseConfigPart(runtimeSchema, configField(conf, 'runtimeConfig') ?? {}, 'runtimeConfig')
  const inputs: Array<readonly RangeInput[]> = [
    ...(runtime.ipRanges ?? []),
    ...(ipam.subnet ? [[{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }]] : []),
    ...(ipam.ranges ?? []),
  ]
  if (inputs.length === 0) throw invalidConfig('no IP ranges specified')
  const rangeSets = canonicalizeRangeSets(inputs)
  checkOldVersion(conf.cniVersion, rangeSets)
  return {
    location: { dataDir: ipam.dataDir || DEFAULT_DATA_DIR, network: conf.name },
    cniVersion: conf.cniVersion,
    rangeSets,
    routes: (ipam.routes ?? []).map((r, i) => parseRoute(r, i)),
    resolvConf: ipam.resolvConf || undefined,
    requested: requestedIps(cniArgs, configField(conf, 'args'), runtime.ips),
  }
}

// Spec 0.1.0/0.2.0 results hold one ip4 and one ip6 at most.
function checkOldVersion(cniVersion: string, rangeSets: readonly RangeSet[]): void {
  if (compareVersions(cniVersion, '0.3.0') >= 0) return
  const v4 = rangeSets.filter((s) => rangeSetFamily(s) === 4).length
  if (v4 > 1 || rangeSets.length - v4 > 1) throw invalidConfig(`CNI version ${cniVersion} does not support more than 1 address per family`)
}

function parseRoute(route: z.output<typeof routeSchema>, i: number): ResultRoute {
  if (!parseCidr(route.dst)) throw invalidConfig(`invalid ipam.routes.${i}.dst: ${JSON.stringify(route.dst)} is not an address with prefix`)
  if (route.gw !== undefined && route.gw !== '' && !parseIp(route.gw)) throw invalidConfig(`invalid ipam.routes.${i}.gw: ${JSON.stringify(route.gw)} is not an IP address`)
  const out: ResultRoute = { dst: route.dst }
  if (route.gw) out.gw = route.gw
  for (const key of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (route[key] !== undefined) out[key] = route[key]
  return out
}

function requestedIps(cniArgs: CniArgs, args: unknown, runtimeIps: readonly string[] | undefined): Ip[] {
  const out: Ip[] = []
  const add = (ip: Ip): void => {
    if (!out.some((seen) => ipEquals(seen, ip))) out.push(ip)
  }
  const fromEnv = cniArgs.get('IP')
  if (fromEnv !== undefined && fromEnv !== '') {
    const parsed = parseIpOrCidr(fromEnv)
    if (!parsed) throw new CniError(ErrorCode.InvalidEnvironment, `cannot understand ip: CNI_ARGS IP=${JSON.stringify(fromEnv)} is not an IP address`)
    add(parsed.ip)
  }
  const argIps = parseConfigPart(argsSchema, isObject(args) ? args : {}, 'args').cni?.ips
  for (const [field, list] of [['args.cni.ips', argIps], ['runtimeConfig.ips', runtimeIps]] as const) {
    list?.forEach((text, i) => add(requestedIp(text, `${field}.${i}`)))
  }
  return out
}

// "10.1.2.3" or "10.1.2.3/24": the prefix is ignored, as in the reference.
function requestedIp(text: string, field: string): Ip {
  const parsed = parseIpOrCidr(text)
  if (!parsed) throw invalidConfig(`cannot understand ip: ${field} ${JSON.stringify(text)} is not an IP address`)
  return parsed.ip
}

