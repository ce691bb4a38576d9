// dnsname's config (domainName, runtimeConfig.aliases) plus tscni's own options, validated and defaulted (pure).
import * as z from 'zod/mini'
import type { BackendName } from '../firewall/backend.ts'
import { goField } from '../decode/go-json.ts'
import { parseConfigPart } from '../plugin/config.ts'
import { isValidDomain } from './names.ts'

/** The DNS role's options after validation. */
export interface DnsConfig {
  /** The network's domain: names are answered as `<name>.<domain>` and as bare names. */
  readonly domainName: string
  /** Where each network's server directory lives (`<dataDir>/<network>/`). */
  readonly dataDir: string
  /** The host's resolver list, read for the upstream servers. */
  readonly resolvConf: string
  /** The account dnsmasq switches to after binding; undefined = `dnsmasq` if it exists, else `nobody`. */
  readonly user?: string
  /** The firewall backend for the port 53 rules; undefined = detect (iptables if usable, else nftables). */
  readonly backend?: BackendName
  /** Aliases the runtime gave for this network (`runtimeConfig.aliases[<network>]`), unvalidated. */
  readonly aliases: readonly string[]
  /** prevResult as received (decoded by the handler in the config's version). */
  readonly prevResult: unknown
}

/** dnsname's default domain is dns.podman; ours names the project instead. */
export const DEFAULT_DOMAIN = 'dns.tscni'
/** Run-time state: gone after a reboot, like the servers it describes. */
export const DEFAULT_DATA_DIR = '/run/tscni/dns'

// Paths are written into dnsmasq's config, where a space, '#' or ',' would change what a line means: plain ones only.
const PLAIN_PATH = /^\/[A-Za-z0-9._+\/-]*$/
const absolutePath = (what: string) => z.string().check(z.regex(PLAIN_PATH, `${what} must be an absolute path of letters, digits and . _ + - /`))

/**
 * The dataDir a DEL whose config did not parse may still clean up: the default when none is given, the given one
 * when it passes the same check as in a valid config, else undefined (nothing is touched).
 */
export function dataDirForDel(raw: Readonly<Record<string, unknown>>): string | undefined {
  const dataDir = goField(raw, 'dataDir')
  if (dataDir === undefined) return DEFAULT_DATA_DIR
  return typeof dataDir === 'string' && PLAIN_PATH.test(dataDir) ? dataDir : undefined
}

/** The DNS role's options as accepted on stdin (docs/configuration.md is checked against it). */
export const dnsConfigSchema = z.object({
  domainName: z.optional(z.string().check(z.refine((d) => isValidDomain(d.toLowerCase()), 'domainName must be a DNS name: labels of a-z, 0-9 and -, at most 63 each, 253 in all'))),
  dataDir: z.optional(absolutePath('dataDir')),
  resolvConf: z.optional(absolutePath('resolvConf')),
  user: z.optional(z.string().check(z.regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'user must be a user name (a-z, 0-9, _ and -)'))),
  backend: z.optional(z.enum(['iptables', 'nftables'], 'backend must be "iptables" or "nftables"')),
  stateDir: z.optional(z.string('stateDir must be a directory path')),
  // Aliases are data from the runtime: they are checked one by one later, so one bad alias cannot fail the ADD.
  runtimeConfig: z.optional(z.looseObject({ aliases: z.optional(z.nullable(z.record(z.string(), z.nullable(z.array(z.string()))))) })),
})

/** Parses the DNS options from the whole plugin config object; `network` picks the aliases. */
export function parseDnsConfig(raw: Readonly<Record<string, unknown>>, network: string): DnsConfig {
  const parsed = parseConfigPart(dnsConfigSchema, raw, '')
  return {
    domainName: (parsed.domainName ?? DEFAULT_DOMAIN).toLowerCase().replace(/\.$/, ''),
    dataDir: parsed.dataDir ?? DEFAULT_DATA_DIR,
    resolvConf: parsed.resolvConf ?? '/etc/resolv.conf',
    ...(parsed.user !== undefined ? { user: parsed.user } : {}),
    ...(parsed.backend !== undefined ? { backend: parsed.backend } : {}),
    aliases: aliasesOf(parsed.runtimeConfig?.aliases, network),
    prevResult: goField(raw, 'prevResult'),
  }
}

// An own key only: a network named "constructor" or "toString" must not read Object.prototype's functions.
function aliasesOf(aliases: Readonly<Record<string, readonly string[] | null>> | null | undefined, network: string): readonly string[] {
  if (!aliases || !Object.hasOwn(aliases, network)) return []
  return aliases[network] ?? []
}
