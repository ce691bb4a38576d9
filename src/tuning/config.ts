// tuning's config: the options from the config, `args.cni`, `runtimeConfig.mac` and CNI_ARGS MAC=, merged in the
// reference's order (plugins/meta/tuning/tuning.go parseConf), and its sysctl keys resolved and vetted (pure).
import { posix } from 'node:path'
import * as z from 'zod/mini'
import { goField, lazily } from '../decode/go-json.ts'
import type { CniArgs } from '../plugin/env.ts'
import { parseConfigPart } from '../plugin/config.ts'
import { invalidConfig } from '../plugin/errors.ts'

/** Where the reference keeps its backups, and so do we: either implementation restores the other's. */
export const DEFAULT_DATA_DIR = '/run/cni/tuning'

/** One sysctl to write in the container namespace: the key as configured and its path under /proc/sys. */
export interface TuningSysctl {
  readonly key: string
  /** Slash form relative to /proc/sys ("net/ipv4/conf/eth0/arp_filter"), always under net/. */
  readonly path: string
  readonly value: string
}

/** tuning's options after merging and validation. */
export interface TuningConfig {
  readonly dataDir: string
  readonly sysctls: readonly TuningSysctl[]
  readonly mac?: string
  /** Only `true` changes anything at ADD (the reference's plain bool); CHECK also expects `false` to hold. */
  readonly promisc: boolean
  readonly mtu?: number
  readonly allmulti?: boolean
  readonly txQLen?: number
  readonly prevResult: unknown
}

const bool = z.optional(z.boolean({ error: 'expected true or false' }))
const mac = z.optional(z.string({ error: 'expected a MAC address string' }))
const int = (what: string, min: number, max: number) => z.optional(z.number({ error: `${what}: expected an integer` })
  .check(z.int({ error: `${what}: expected an integer` }), z.gte(min, { error: `${what} must be at least ${min}` }), z.lte(max, { error: `${what} must be at most ${max}` })))
const sysctls = z.optional(z.record(z.string(), z.string({ error: 'sysctl values are strings' })))

// The options as accepted at the top level and again under args.cni (both lists are checked against the docs).
const options = lazily(() => ({
  sysctl: sysctls,
  mac,
  promisc: bool,
  mtu: int('mtu', 68, 65535),
  allmulti: bool,
  txQLen: int('txQLen', 0, 0x7fffffff),
}))

/** The tuning options as accepted on stdin (docs/configuration.md is checked against it). */
export const tuningConfigSchema = z.object({
  ...options(),
  dataDir: z.optional(z.string({ error: 'expected a directory path' })),
  runtimeConfig: z.optional(z.object({ mac })),
  args: z.optional(z.object({ cni: z.optional(z.object(options())) })),
})

const MAC = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/

/** Parses and merges the options; `ifname` is CNI_IFNAME (for IFNAME in sysctl keys). */
export function parseTuningConfig(raw: Readonly<Record<string, unknown>>, args: CniArgs, ifname: string): TuningConfig {
  const c = parseConfigPart(tuningConfigSchema, raw, '')
  const a = c.args?.cni
  // Precedence as the reference applies it: config, then CNI_ARGS MAC=, runtimeConfig.mac, args.cni.mac.
  const macs: Array<[string, string | undefined]> = [['mac', c.mac], ['CNI_ARGS MAC', args.get('MAC')], ['runtimeConfig.mac', c.runtimeConfig?.mac], ['args.cni.mac', a?.mac]]
  let chosen: string | undefined
  for (const [field, value] of macs) {
    if (value === undefined || value === '') continue
    if (!MAC.test(value)) throw invalidConfig(`invalid MAC address in ${field}: "${value}"`)
    chosen = value.toLowerCase().replaceAll('-', ':')
  }
  const merged = { ...c.sysctl, ...a?.sysctl }
  const promisc = a?.promisc ?? c.promisc ?? false
  const mtu = a?.mtu ?? c.mtu
  const allmulti = a?.allmulti ?? c.allmulti
  const txQLen = a?.txQLen ?? c.txQLen
  return {
    dataDir: c.dataDir || DEFAULT_DATA_DIR,
    sysctls: Object.entries(merged).map(([key, value]) => ({ key, path: sysctlPathOf(key, ifname), value })),
    ...(chosen ? { mac: chosen } : {}),
    promisc,
    // 0 means "leave it" in the reference (an omitempty int).
    ...(mtu ? { mtu } : {}),
    ...(allmulti !== undefined ? { allmulti } : {}),
    ...(txQLen !== undefined ? { txQLen } : {}),
    prevResult: goField(raw, 'prevResult'),
  }
}

/** True when ADD has nothing to change: then it only passes prevResult on (podman and nerdctl chain it so). */
export function isPassThrough(c: TuningConfig): boolean {
  return c.sysctls.length === 0 && c.mac === undefined && !c.promisc && c.mtu === undefined && c.allmulti === undefined && c.txQLen === undefined
}

/**
 * A sysctl key ("net.ipv4.conf.IFNAME.arp_filter" or slash form) as a path under /proc/sys: dots become slashes,
 * the first IFNAME becomes the interface name, and the cleaned path must stay under /proc/sys/net/ (the reference's
 * getSysctlFilename). Anything else is refused, naming the key.
 */
export function sysctlPathOf(key: string, ifname: string): string {
  const file = posix.join('/proc/sys', key.replaceAll('.', '/').replace('IFNAME', ifname))
  if (!file.startsWith('/proc/sys/net/') || /[\p{Cc}]/u.test(key)) throw invalidConfig(`invalid net sysctl key: "${key}" (only keys under /proc/sys/net/ may be set)`)
  return file.slice('/proc/sys/'.length)
}

/**
 * The allowlist's regexes (one a line, blank lines skipped), checked against each configured key as the
 * reference does (an unanchored Go regexp match on the key as written). Returns the first refused key's error.
 */
export function checkAllowlist(sysctls: readonly TuningSysctl[], allowlist: string, file: string): void {
  const patterns = allowlist.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const compiled = patterns.map((p) => {
    try {
      return new RegExp(p, 'u')
    } catch {
      throw invalidConfig(`invalid regular expression "${p}" in the sysctl allowlist ${file}`)
    }
  })
  for (const s of sysctls) {
    if (!compiled.some((re) => re.test(s.key))) {
      throw invalidConfig(`sysctl "${s.key}" is not allowed by ${file}`, `allowed: ${patterns.join(', ')}`)
    }
  }
}
