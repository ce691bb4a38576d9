// Node leases as stored under `<prefix>/subnets/`: the value's shape, and the checks that keep anything odd read
// from the store (or a peers file) from ever becoming a route: such an entry is skipped with a warning.
import { formatIp, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig } from './cluster-config.ts'
import { cut, refuseUntrusted } from './lease-trust.ts'
import type { Lease, StoreEntry } from './lease-model.ts'
import { isNodeSubnet, leaseKey, parseLeaseKey, parseSubnetKey, subnetKey, subnetText, type TakenSubnet } from './subnets.ts'

export type { Lease, StoreEntry } from './lease-model.ts'

/** The JSON a node stores for its lease (flannel's LeaseAttrs). */
export function leaseValue(l: Lease, vni: number): string {
  const attrs: Record<string, unknown> = { PublicIP: l.publicIp, BackendType: l.backendType }
  if (l.publicIpv6) attrs.PublicIPv6 = l.publicIpv6
  if (l.backendType === 'vxlan') attrs.BackendData = { VNI: vni, VtepMAC: l.vtepMac }
  return JSON.stringify(attrs)
}

/** A unicast, locally usable IPv4 address text in canonical form, or undefined. */
export function checkPublicIp(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined
  const ip = parseIp(text)
  if (!ip || ip.family !== 4) return undefined
  const first = Number(ip.value >> 24n)
  // 0/8 "this network", 127/8 loopback, 224/4 multicast and 240/4 reserved (RFC 6890) can never be a node.
  if (first === 0 || first === 127 || first >= 224) return undefined
  return formatIp(ip) === text ? text : undefined
}

/** A unicast MAC in lower-case colon form, not all zeros; undefined otherwise. */
export function checkMac(text: unknown): string | undefined {
  if (typeof text !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return undefined
  const mac = text.toLowerCase()
  // The least significant bit of the first octet marks a group (multicast) address (IEEE 802, RFC 7042 2.1).
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') return undefined
  return mac
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Leases read from the store: the usable ones, every key that blocks a subnet, and why others were skipped. */
export interface ParsedLeases {
  readonly leases: readonly Lease[]
  readonly taken: readonly TakenSubnet[]
  readonly warnings: readonly string[]
}

/**
 * Checks every entry under `<prefix>/subnets/`. A lease is skipped (with a warning naming its key) when the key is
 * not a node subnet of this cluster (outside the cluster CIDR, wrong size, host bits), the value is not the
 * expected JSON, its PublicIP or VtepMAC is invalid, its backend or VNI differs from the cluster's (mixed paths
 * are dropped by rp_filter), or it overlaps another lease (then both are skipped: neither can be trusted).
 */
export function parseLeases(entries: readonly StoreEntry[], config: ClusterConfig, subnetsPrefix: string): ParsedLeases {
  const warnings: string[] = []
  const taken: TakenSubnet[] = []
  const candidates: Lease[] = []
  for (const entry of entries) {
    if (!entry.key.startsWith(subnetsPrefix)) continue
    const suffix = entry.key.slice(subnetsPrefix.length)
    const skip = (why: string) => void warnings.push(`ignoring lease ${JSON.stringify(cut(entry.key, 128))}: ${why}`)
    const nets = keySubnets(suffix, config, skip)
    if (!nets) continue
    if (entry.oversize !== undefined) {
      skip(`the value is ${entry.oversize} bytes, over the limit for a lease`)
      taken.push({ key: suffix })
      continue
    }
    const checked = checkLease(suffix, nets[0]!, entry.value, config, skip)
    const lease = checked && withIpv6(checked, nets, entry.value, config, skip)
    taken.push(lease ? { key: suffix, publicIp: lease.publicIp } : { key: suffix })
    if (lease) candidates.push(lease)
  }
  // Across leases (derived MAC, shared PublicIP or MAC, overlaps in either family): O(n log n), lease-trust.ts.
  const trusted = refuseUntrusted(candidates, config, subnetsPrefix)
  return { leases: trusted.leases, taken, warnings: [...warnings, ...trusted.warnings] }
}

function checkLease(key: string, net: IpNet, text: string, config: ClusterConfig, skip: (why: string) => void): Lease | undefined {
  if (net.ip.family === 4 && net.prefix === config.subnetLen && net.ip.value === config.network.ip.value) {
    skip(`${subnetText(net)} is the cluster's first subnet, which holds the network address ${formatIp(config.network.ip)} and is never leased`)
    return undefined
  }
  if (!isNodeSubnet(config, net)) {
    skip(`${subnetText(net)} is not a /${config.subnetLen} node subnet of the cluster network ${subnetText(config.network)}`)
    return undefined
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    skip('the value is not JSON')
    return undefined
  }
  if (!isObject(value)) { skip('the value is not a JSON object'); return undefined }
  const publicIp = checkPublicIp(value.PublicIP)
  if (!publicIp) { skip(`PublicIP ${cut(JSON.stringify(value.PublicIP) ?? 'undefined')} is not a unicast IPv4 address`); return undefined }
  if (value.BackendType !== config.backend.type) {
    skip(`BackendType ${cut(JSON.stringify(value.BackendType) ?? 'undefined')} differs from the cluster's "${config.backend.type}"`)
    return undefined
  }
  if (config.backend.type === 'host-gw') return { key, subnet: net, publicIp, backendType: 'host-gw' }
  const data = isObject(value.BackendData) ? value.BackendData : {}
  if (data.VNI !== config.backend.vni) {
    skip(`BackendData.VNI ${cut(JSON.stringify(data.VNI) ?? 'undefined')} differs from the cluster's ${config.backend.vni}`)
    return undefined
  }
  const vtepMac = checkMac(data.VtepMAC)
  if (!vtepMac) { skip(`BackendData.VtepMAC ${cut(JSON.stringify(data.VtepMAC) ?? 'undefined')} is not a unicast MAC address`); return undefined }
  return { key, subnet: net, publicIp, backendType: 'vxlan', vtepMac }
}

/**
 * This node's own lease for a subnet (and, dual-stack, its IPv6 subnet); `publicIpv6` is recorded only in a
 * cluster with IPv6.
 */
export function ownLease(config: ClusterConfig, subnet: IpNet, publicIp: string, vtepMac: string, v6: { subnet6?: IpNet | undefined; publicIpv6?: string | undefined } = {}): Lease {
  const lease: Lease = config.backend.type === 'vxlan'
    ? { key: subnetKey(subnet), subnet, publicIp, backendType: 'vxlan', vtepMac }
    : { key: subnetKey(subnet), subnet, publicIp, backendType: 'host-gw' }
  const hasIpv6 = config.ipv6 !== undefined || config.network.ip.family === 6
  if (!hasIpv6) return lease
  return {
    ...lease,
    ...(v6.subnet6 ? { key: leaseKey([subnet, v6.subnet6]), subnet6: v6.subnet6 } : {}),
    ...(v6.publicIpv6 ? { publicIpv6: v6.publicIpv6 } : {}),
  }
}

/**
 * The subnets a key names: an IPv4-only cluster's keys are one IPv4 part, as they always were; a cluster with
 * IPv6 reads flannel's parts in either family ("a.b.c.d-len&ipv6::-len", "ipv6::-len"). Undefined (skipped) else.
 */
function keySubnets(key: string, config: ClusterConfig, skip: (why: string) => void): IpNet[] | undefined {
  if (config.ipv6 === undefined && config.network.ip.family === 4) {
    const net = parseSubnetKey(key)
    if (!net) skip('the key does not name a subnet as "a.b.c.d-len"')
    return net && [net]
  }
  const nets = parseLeaseKey(key)
  if (!nets) skip(`the key does not name subnets as "${config.ipv6 ? 'a.b.c.d-len&ipv6::-len' : 'ipv6::-len'}"`)
  return nets
}

/** A global unicast IPv6 address text in canonical form (RFC 5952), or undefined. */
export function checkPublicIpv6(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined
  const ip = parseIp(text)
  if (!ip || ip.family !== 6 || formatIp(ip) !== text) return undefined
  const top = Number(ip.value >> 112n)
  // :: and ::1, ff00::/8 multicast and fe80::/10 link-local (RFC 4291 2.4) can never be a node's underlay address;
  // IPv4-mapped ones never parse as IPv6 here.
  if (ip.value <= 1n || top >= 0xff00 || (top & 0xffc0) === 0xfe80) return undefined
  return text
}

/**
 * The IPv6 half of a lease checked against the cluster: a dual-stack key must name an IPv6 node subnet after the
 * IPv4 one, other clusters' keys a single subnet; a PublicIPv6, when present, must be a global unicast address.
 */
function withIpv6(lease: Lease, nets: readonly IpNet[], text: string, config: ClusterConfig, skip: (why: string) => void): Lease | undefined {
  const pool = config.ipv6
  if (!pool && nets.length > 1) { skip(`the key names ${nets.length} subnets but the cluster has one family`); return undefined }
  if (pool && (nets.length !== 2 || !isNodeSubnet(pool, nets[1]!))) {
    skip(`${nets[1] ? subnetText(nets[1]) : 'no IPv6 subnet'} is not a /${pool.subnetLen} node subnet of the cluster's IPv6 network ${subnetText(pool.network)}`)
    return undefined
  }
  if (!pool && config.network.ip.family === 4) return lease
  const value = JSON.parse(text) as Record<string, unknown>
  const raw = value.PublicIPv6
  const publicIpv6 = raw === undefined || raw === null ? undefined : checkPublicIpv6(raw)
  if (raw !== undefined && raw !== null && !publicIpv6) { skip(`PublicIPv6 ${JSON.stringify(raw)} is not a global unicast IPv6 address`); return undefined }
  return { ...lease, ...(pool ? { subnet6: nets[1]! } : {}), ...(publicIpv6 ? { publicIpv6 } : {}) }
}
