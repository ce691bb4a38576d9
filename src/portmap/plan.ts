// Pure: which container addresses a portmap attachment forwards to, and the firewall intent for them.
import type { Owner, PortMapping, PortmapIntent } from '../firewall/model.ts'
import { ipEquals, parseCidr, parseIp, type Ip, type IpNet } from '../plugin/addr.ts'
import type { Result } from '../plugin/result.ts'
import type { PortmapConfig } from './config.ts'

/** The container's first IPv4 and first IPv6 address (with prefix) as the reference's portmap main.go selects them. */
export interface ContainerAddresses {
  readonly v4?: IpNet
  readonly v6?: IpNet
}

/**
 * Takes the first address of each family whose interface is unset, out of range, or the sandboxed interface
 * named `ifname`; addresses on host-side interfaces (the bridge, the host veth) are skipped.
 */
export function containerAddresses(prev: Result, ifname: string): ContainerAddresses {
  const interfaces = prev.interfaces ?? []
  const out: { v4?: IpNet; v6?: IpNet } = {}
  for (const ip of prev.ips ?? []) {
    const idx = ip.interface
    const itf = idx === undefined ? undefined : interfaces[idx]
    const eligible = itf === undefined || (itf.name === ifname && Boolean(itf.sandbox))
    const net = parseCidr(ip.address)
    if (!eligible || !net) continue
    if (net.ip.family === 4) out.v4 ??= net
    else out.v6 ??= net
  }
  return out
}

/** The firewall intent for one attachment. */
export function portmapIntent(config: PortmapConfig, owner: Owner, addrs: ContainerAddresses): PortmapIntent {
  return {
    kind: 'portmap',
    owner,
    ...(addrs.v4 ? { containerV4: addrs.v4 } : {}),
    ...(addrs.v6 ? { containerV6: addrs.v6 } : {}),
    mappings: config.mappings,
    snat: config.snat,
    masqAll: config.masqAll,
    markMasqBit: config.markMasqBit,
    ...(config.externalSetMarkChain !== undefined ? { externalSetMarkChain: config.externalSetMarkChain } : {}),
    ...(config.conditionsV4 ? { conditionsV4: config.conditionsV4 } : {}),
    ...(config.conditionsV6 ? { conditionsV6: config.conditionsV6 } : {}),
  }
}

/** UDP host ports whose conntrack entries must be flushed (stale entries black-hole a re-used port). */
export function udpHostPorts(config: PortmapConfig): number[] {
  return [...new Set(config.mappings.filter((m) => m.protocol === 'udp').map((m) => m.hostPort))]
}

/** The first host-side interface (no sandbox) a result names: the device routing to the container, as a hint. */
export function hostDeviceHint(prev: Result): string | undefined {
  return (prev.interfaces ?? []).find((itf) => !itf.sandbox && itf.name)?.name
}

/** A mapping that would take port 53 from DNS, and where it is in runtimeConfig.portMappings. */
export interface DnsShadow {
  readonly index: number
  readonly mapping: PortMapping
}

/**
 * The first mapping that would answer DNS in place of the real server: udp or tcp host port 53 on any host address
 * (hostIP unset or unspecified), on a loopback one (the host's own resolver, e.g. systemd-resolved's 127.0.0.53),
 * or on one of the attachment's gateways (where dnsname's server listens). The DNAT happens before the packet
 * reaches the server's socket, so the mapping would win (the netavark#1079 / aardvark-dns#13 class). A specific
 * other host address (a LAN address) cannot shadow either and is allowed.
 */
export function dnsShadowing(mappings: readonly PortMapping[], gateways: readonly Ip[]): DnsShadow | undefined {
  const index = mappings.findIndex((m) => {
    if (m.hostPort !== 53 || m.protocol === 'sctp') return false
    const ip = m.hostIp === undefined ? undefined : parseIp(m.hostIp)
    if (ip === undefined || ip.value === 0n) return true
    if (ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n) return true
    return gateways.some((g) => ipEquals(g, ip))
  })
  return index === -1 ? undefined : { index, mapping: mappings[index]! }
}

/** The gateways a result names (the addresses dnsname's server listens on). */
export function resultGateways(prev: Result): Ip[] {
  return (prev.ips ?? []).flatMap((ip) => {
    const gw = ip.gateway === undefined ? undefined : parseIp(ip.gateway)
    return gw ? [gw] : []
  })
}
