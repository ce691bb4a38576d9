// The bridge config: zod/mini schema, the reference defaults, cross-field rules with the reference's messages,
// and the container MAC from runtimeConfig / args / CNI_ARGS (pure).
import * as z from 'zod/mini'
import { goField } from '../decode/go-json.ts'
import { configField, parseConfigPart, type NetConf } from '../plugin/config.ts'
import type { CniArgs } from '../plugin/env.ts'
import { invalidConfig } from '../plugin/errors.ts'
import type { ResultDns } from '../plugin/result.ts'

/** The bridge role's options after defaults and validation (the reference's NetConf in plugins/main/bridge/bridge.go; docs/configuration.md). */
export interface BridgeConfig {
  readonly network: string
  readonly cniVersion: string
  readonly bridge: string
  readonly isGateway: boolean
  readonly isDefaultGateway: boolean
  readonly forceAddress: boolean
  readonly ipMasq: boolean
  readonly ipMasqBackend?: 'iptables' | 'nftables'
  /** 0 = kernel default. */
  readonly mtu: number
  readonly hairpinMode: boolean
  readonly promiscMode: boolean
  /** 0 = no VLAN. */
  readonly vlan: number
  /** Tagged VLANs, de-duplicated and sorted; empty = no trunk. */
  readonly vlanTrunk: readonly number[]
  readonly preserveDefaultVlan: boolean
  readonly enableDad: boolean
  readonly macSpoofCheck: boolean
  readonly disableContainerInterface: boolean
  readonly portIsolation: boolean
  /** IPAM plugin type; empty = L2 mode (no addresses). */
  readonly ipamType: string
  /** The top-level `dns`, only when some field is set (it then replaces the IPAM DNS). */
  readonly dns?: ResultDns
  /** Container MAC requested by runtimeConfig.mac, args.cni.mac or CNI_ARGS MAC= (that priority). */
  readonly mac?: string
}

const bool = z.optional(z.boolean({ error: 'expected true or false' }))
const vid = z.optional(z.number({ error: 'expected an integer' }).check(z.int({ error: 'expected an integer' })))
const strings = z.optional(z.array(z.string({ error: 'expected a string' })))

/** The bridge options as accepted on stdin (docs/configuration.md is checked against it). */
export const bridgeConfigSchema = z.object({
  bridge: z.optional(z.string({ error: 'expected a string' })),
  isGateway: bool,
  isDefaultGateway: bool,
  forceAddress: bool,
  ipMasq: bool,
  ipMasqBackend: z.optional(z.string({ error: 'expected "iptables" or "nftables"' })),
  mtu: z.optional(z.number({ error: 'expected an integer' }).check(z.int({ error: 'expected an integer' }), z.gte(0, { error: 'must be 0 (kernel default) or more' }), z.lte(65535, { error: 'must be at most 65535' }))),
  hairpinMode: bool,
  promiscMode: bool,
  vlan: vid,
  vlanTrunk: z.optional(z.array(z.object({ id: vid, minID: vid, maxID: vid }))),
  preserveDefaultVlan: bool,
  enabledad: bool,
  macspoofchk: bool,
  disableContainerInterface: bool,
  portIsolation: bool,
  stateDir: z.optional(z.string({ error: 'expected a directory path' })),
  readinessFile: z.optional(z.string({ error: 'expected a file path' })),
  ipam: z.optional(z.object({ type: z.optional(z.string({ error: 'expected a string' })) })),
  dns: z.optional(z.object({ nameservers: strings, domain: z.optional(z.string()), search: strings, options: strings })),
  args: z.optional(z.object({ cni: z.optional(z.object({ mac: z.optional(z.string({ error: 'expected a MAC address string' })) })) })),
  runtimeConfig: z.optional(z.object({ mac: z.optional(z.string({ error: 'expected a MAC address string' })) })),
})

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
// IFNAMSIZ, and nothing that would split or comment out an ip -batch line.
const IFNAME = /^[^\s/:'"#\\]{1,15}$/

/** Parses and validates the bridge options of a decoded config; `args` is CNI_ARGS (for MAC=). */
export function parseBridgeConfig(conf: NetConf, args: CniArgs): BridgeConfig {
  const raw = parseConfigPart(bridgeConfigSchema, conf.raw, '')
  const bridge = raw.bridge || 'cni0'
  // IFNAMSIZ counts bytes: a 15-character name with a non-ASCII letter is too long for the kernel.
  if (!IFNAME.test(bridge) || Buffer.byteLength(bridge) > 15 || bridge === '.' || bridge === '..') {
    throw invalidConfig(`invalid bridge name "${bridge}": an interface name has 1 to 15 characters and no whitespace, '/', ':', quotes, '#' or '\\'`)
  }
  const vlan = raw.vlan ?? 0
  if (vlan < 0 || vlan > 4094) throw invalidConfig(`invalid VLAN ID ${vlan} (must be between 0 and 4094)`)
  if (vlan > 0 && Buffer.byteLength(`${bridge}.${vlan}`) > 15) {
    throw invalidConfig(`bridge "${bridge}" with vlan ${vlan} needs a gateway interface "${bridge}.${vlan}", longer than 15 characters`)
  }
  const hairpinMode = raw.hairpinMode ?? false
  const promiscMode = raw.promiscMode ?? false
  if (hairpinMode && promiscMode) throw invalidConfig('cannot set hairpin mode and promiscuous mode at the same time')
  const ipamType = raw.ipam?.type ?? ''
  const disableContainerInterface = raw.disableContainerInterface ?? false
  if (ipamType !== '' && disableContainerInterface) throw invalidConfig('cannot use IPAM when DisableContainerInterface flag is set')
  const backend = raw.ipMasqBackend
  if (backend !== undefined && backend !== '' && backend !== 'iptables' && backend !== 'nftables') {
    throw invalidConfig(`unknown ipmasq backend "${backend}"`, 'ipMasqBackend must be "iptables" or "nftables"')
  }
  const isDefaultGateway = raw.isDefaultGateway ?? false
  return {
    network: conf.name,
    cniVersion: conf.cniVersion,
    bridge,
    isGateway: (raw.isGateway ?? false) || isDefaultGateway, // the reference forces isGateway with isDefaultGateway
    isDefaultGateway,
    forceAddress: raw.forceAddress ?? false,
    ipMasq: raw.ipMasq ?? false,
    ...(backend ? { ipMasqBackend: backend } : {}),
    mtu: raw.mtu ?? 0,
    hairpinMode,
    promiscMode,
    vlan,
    vlanTrunk: collectVlanTrunk(raw.vlanTrunk),
    preserveDefaultVlan: raw.preserveDefaultVlan ?? false,
    enableDad: raw.enabledad ?? false,
    macSpoofCheck: raw.macspoofchk ?? false,
    disableContainerInterface,
    portIsolation: raw.portIsolation ?? false,
    ipamType,
    ...dnsPart(raw.dns),
    ...macPart(raw.runtimeConfig?.mac, raw.args?.cni?.mac, args.get('MAC')),
  }
}

/** What DEL needs from the config. */
export interface BridgeDelConfig {
  readonly network: string
  readonly ipamType: string
  readonly ipMasq: boolean
  readonly macSpoofCheck: boolean
}

/**
 * The few fields DEL needs, read leniently: a config that ADD refuses (a bad MAC in CNI_ARGS, an mtu out of range,
 * hairpinMode with promiscMode) must still be torn down when the runtime DELs after the failed ADD.
 */
export function parseBridgeDelConfig(conf: NetConf): BridgeDelConfig {
  const type = goField(configField(conf, 'ipam'), 'type')
  return {
    network: conf.name,
    ipamType: typeof type === 'string' ? type : '',
    ipMasq: configField(conf, 'ipMasq') === true,
    macSpoofCheck: configField(conf, 'macspoofchk') === true,
  }
}

type TrunkItem = { id?: number | undefined; minID?: number | undefined; maxID?: number | undefined }

/** Expands `vlanTrunk` into sorted unique VLAN ids, with the reference's exact error messages. */
export function collectVlanTrunk(items: readonly TrunkItem[] | undefined): number[] {
  const vids = new Set<number>()
  const inRange = (v: number) => v > 0 && v <= 4094
  for (const item of items ?? []) {
    if (item.minID !== undefined && item.maxID !== undefined) {
      if (!inRange(item.minID)) throw invalidConfig('incorrect trunk minID parameter')
      if (!inRange(item.maxID)) throw invalidConfig('incorrect trunk maxID parameter')
      if (item.maxID < item.minID) throw invalidConfig('minID is greater than maxID in trunk parameter')
      for (let v = item.minID; v <= item.maxID; v++) vids.add(v)
    } else if (item.maxID !== undefined) {
      throw invalidConfig('minID and maxID should be configured simultaneously, minID is missing')
    } else if (item.minID !== undefined) {
      throw invalidConfig('minID and maxID should be configured simultaneously, maxID is missing')
    }
    if (item.id !== undefined) {
      if (!inRange(item.id)) throw invalidConfig('incorrect trunk id parameter')
      vids.add(item.id)
    }
  }
  return [...vids].sort((a, b) => a - b)
}

function dnsPart(dns: ResultDns | undefined): { dns?: ResultDns } {
  if (!dns || !(dns.nameservers || dns.search || dns.options || dns.domain)) return {}
  const out: ResultDns = {}
  if (dns.nameservers) out.nameservers = dns.nameservers
  if (dns.domain) out.domain = dns.domain
  if (dns.search) out.search = dns.search
  if (dns.options) out.options = dns.options
  return { dns: out }
}

// Priority runtimeConfig > args > CNI_ARGS, as the reference.
function macPart(runtime: string | undefined, args: string | undefined, env: string | undefined): { mac?: string } {
  const sources: Array<[string, string | undefined]> = [['runtimeConfig.mac', runtime], ['args.cni.mac', args], ['CNI_ARGS MAC', env]]
  for (const [where, value] of sources) {
    if (!value) continue
    if (!MAC.test(value)) throw invalidConfig(`invalid MAC address "${value}" in ${where}`)
    return { mac: value.toLowerCase() }
  }
  return {}
}
