// Node leases as stored under `<prefix>/subnets/`: the value's shape, and the checks that keep anything odd read
// from the store (or a peers file) from ever becoming a route: such an entry is skipped with a warning.
import { formatIp, parseIp, type IpNet } from '../plugin/addr.ts'
import type { BackendType, ClusterConfig } from './cluster-config.ts'
import { cut, refuseUntrusted } from './lease-trust.ts'
import { isNodeSubnet, parseSubnetKey, subnetKey, subnetText, type TakenSubnet } from './subnets.ts'

/** A checked lease: one node's subnet and how to reach it. */
export interface Lease {
  /** The key suffix, e.g. "10.77.1.0-24". */
  readonly key: string
  readonly subnet: IpNet
  readonly publicIp: string
  readonly backendType: BackendType
  /** vxlan only: the node's VTEP MAC. */
  readonly vtepMac?: string
}

/** One key and value as read from the store. */
export interface StoreEntry {
  /** The full key, prefix included. */
  readonly key: string
  readonly value: string
  /** The value's size when it was over the store's limit (etcd-wire.ts MAX_VALUE_BYTES): cut, never parsed. */
  readonly oversize?: number
}

/** The JSON a node stores for its lease (flannel's LeaseAttrs). */
export function leaseValue(l: Lease, vni: number): string {
  const attrs: Record<string, unknown> = { PublicIP: l.publicIp, BackendType: l.backendType }
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
    const net = parseSubnetKey(suffix)
    if (!net) { skip('the key does not name a subnet as "a.b.c.d-len"'); continue }
    if (entry.oversize !== undefined) {
      skip(`the value is ${entry.oversize} bytes, over the limit for a lease`)
      taken.push({ key: suffix })
      continue
    }
    const lease = checkLease(suffix, net, entry.value, config, skip)
    taken.push(lease ? { key: suffix, publicIp: lease.publicIp } : { key: suffix })
    if (lease) candidates.push(lease)
  }
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

/** This node's own lease for a subnet. */
export function ownLease(config: ClusterConfig, subnet: IpNet, publicIp: string, vtepMac: string): Lease {
  return config.backend.type === 'vxlan'
    ? { key: subnetKey(subnet), subnet, publicIp, backendType: 'vxlan', vtepMac }
    : { key: subnetKey(subnet), subnet, publicIp, backendType: 'host-gw' }
}
