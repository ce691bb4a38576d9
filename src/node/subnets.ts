// Cutting the cluster CIDR into per-node subnets, their store key names, and which subnet a node should lease.
import { familyBits, formatIp, ipAdd, netContains, networkAddress, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig, SubnetPool } from './cluster-config.ts'

/** The store key suffix of a subnet, flannel's layout: "10.77.1.0-24". */
export function subnetKey(net: IpNet): string {
  return `${formatIp(net.ip)}-${net.prefix}`
}

/** The subnet a key suffix names; undefined for anything else (host bits set, bad address or length). */
export function parseSubnetKey(text: string): IpNet | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})$/.exec(text)
  if (!m) return undefined
  const ip = parseIp(m[1]!)
  const prefix = Number(m[2])
  if (!ip || ip.family !== 4 || prefix > 32) return undefined
  const net = { ip, prefix }
  return networkAddress(net).value === ip.value ? net : undefined
}

/**
 * One part of a lease key in either family, "10.77.1.0-24" or "fd77:0:0:1::-64" (flannel's IPv6 form): the
 * address in canonical text (so no two keys name one subnet), host bits clear. Undefined otherwise.
 */
export function parseSubnetPart(text: string): IpNet | undefined {
  const dash = text.lastIndexOf('-')
  if (dash <= 0 || !/^\d{1,3}$/.test(text.slice(dash + 1))) return undefined
  const ip = parseIp(text.slice(0, dash))
  const prefix = Number(text.slice(dash + 1))
  if (!ip || prefix > familyBits(ip.family) || formatIp(ip) !== text.slice(0, dash)) return undefined
  const net = { ip, prefix }
  return networkAddress(net).value === ip.value ? net : undefined
}

/**
 * The key of a lease's subnets: one part per family, primary first, joined by "&" as flannel's dual-stack keys
 * are ("10.77.1.0-24&fd77:0:0:1::-64", flannel's Documentation/reservations.md).
 */
export function leaseKey(subnets: readonly IpNet[]): string {
  return subnets.map(subnetKey).join('&')
}

/** The subnets a lease key names (one or two parts, each valid on its own); undefined for anything else. */
export function parseLeaseKey(text: string): IpNet[] | undefined {
  const parts = text.split('&')
  if (parts.length > 2) return undefined
  const nets = parts.map(parseSubnetPart)
  return nets.every((n): n is IpNet => n !== undefined) ? nets : undefined
}

/** The pools a cluster hands out, in key order: the primary one, then the IPv6 one of a dual-stack cluster. */
export function poolsOf(c: ClusterConfig): SubnetPool[] {
  return c.ipv6 ? [c, c.ipv6] : [c]
}

/** The "a.b.c.d/len" text of a subnet. */
export function subnetText(net: IpNet): string {
  return `${formatIp(net.ip)}/${net.prefix}`
}

/** How many node subnets the cluster has: all but the first, which holds the network address (as flannel's SubnetMin). */
export function subnetCount(c: SubnetPool): number {
  return 2 ** (c.subnetLen - c.network.prefix) - 1
}

/** The i-th node subnet (0-based, skipping the cluster's first subnet); undefined past the end. */
export function subnetAt(c: SubnetPool, i: number): IpNet | undefined {
  if (!Number.isInteger(i) || i < 0 || i >= subnetCount(c)) return undefined
  const ip = ipAdd(c.network.ip, BigInt(i + 1) << BigInt(familyBits(c.network.ip.family) - c.subnetLen))
  return ip && { ip, prefix: c.subnetLen }
}

/** True when the subnet is one the cluster could hand out: inside the network, of the node size, not the first. */
export function isNodeSubnet(c: SubnetPool, net: IpNet): boolean {
  return net.ip.family === c.network.ip.family && net.prefix === c.subnetLen && netContains(c.network, net.ip)
    && networkAddress(net).value === net.ip.value && net.ip.value !== c.network.ip.value
}

/** A lease already in the store, as far as choosing needs it. */
export interface TakenSubnet {
  readonly key: string
  /** The PublicIP of a valid lease; undefined when the entry is unreadable (it still blocks its key). */
  readonly publicIp?: string
}

/** Why a subnet was chosen. `subnet6` is the IPv6 subnet of a dual-stack cluster. */
export type SubnetChoice =
  | { readonly subnet: IpNet; readonly subnet6?: IpNet; readonly reason: 'public-ip'; readonly key: string }
  | { readonly subnet: IpNet; readonly subnet6?: IpNet; readonly reason: 'state-file' | 'free'; readonly key: string }

/** The index of a node subnet in its pool (the inverse of subnetAt). */
function indexOf(pool: SubnetPool, net: IpNet): number {
  return Number((net.ip.value - pool.network.ip.value) >> BigInt(familyBits(net.ip.family) - pool.subnetLen)) - 1
}

/** The i-th node subnets of every pool (a dual-stack node gets the same index in both); undefined past the end. */
function subnetsAt(c: ClusterConfig, i: number): IpNet[] | undefined {
  const nets = poolsOf(c).map((p) => subnetAt(p, i))
  return nets.every((n): n is IpNet => n !== undefined) ? nets : undefined
}

/** The subnets of a lease key when they are node subnets of this cluster, one per pool; undefined otherwise. */
export function clusterSubnetsOf(c: ClusterConfig, key: string): IpNet[] | undefined {
  const nets = parseLeaseKey(key)
  const pools = poolsOf(c)
  return nets && nets.length === pools.length && nets.every((n, i) => isNodeSubnet(pools[i]!, n)) ? nets : undefined
}

function choice(nets: readonly IpNet[], reason: 'public-ip' | 'state-file' | 'free', key: string = leaseKey(nets)): SubnetChoice {
  return { subnet: nets[0]!, ...(nets[1] ? { subnet6: nets[1] } : {}), reason, key }
}

/**
 * The subnet this node should lease (flannel's order, pkg/subnet/etcd/local_manager.go): the one a lease with our
 * PublicIP already holds (a restart before it expired), else the one in our state file when it is free and still
 * valid for the config, else the lowest free one. Undefined when the cluster is full.
 */
export function chooseSubnet(input: { config: ClusterConfig; taken: readonly TakenSubnet[]; publicIp: string; previous?: IpNet | undefined }): SubnetChoice | undefined {
  const { config, taken, publicIp, previous } = input
  const isPrevious = (nets: readonly IpNet[]) => previous !== undefined && subnetKey(previous) === subnetKey(nets[0]!)
  const mine = taken
    .filter((t) => t.publicIp === publicIp)
    .map((t) => ({ t, nets: clusterSubnetsOf(config, t.key) }))
    .filter((x): x is { t: TakenSubnet; nets: IpNet[] } => x.nets !== undefined)
    // Several (a config change, a manual copy): prefer the state file's, else the lowest, deterministically.
    .sort((a, b) => (isPrevious(a.nets) ? -1 : isPrevious(b.nets) ? 1 : Number(a.nets[0]!.ip.value - b.nets[0]!.ip.value)))
  if (mine[0]) return choice(mine[0].nets, 'public-ip', mine[0].t.key)
  // Every subnet any key names is in use, whichever key names it: a dual-stack index is free only when both are.
  const used = new Set(taken.flatMap((t) => [t.key, ...(parseLeaseKey(t.key) ?? []).map(subnetKey)]))
  const free = (nets: readonly IpNet[]) => nets.every((n) => !used.has(subnetKey(n)))
  const prevNets = previous && isNodeSubnet(config, previous) ? subnetsAt(config, indexOf(config, previous)) : undefined
  if (prevNets && free(prevNets)) return choice(prevNets, 'state-file')
  const count = Math.min(...poolsOf(config).map(subnetCount))
  for (let i = 0; i < count; i++) {
    const nets = subnetsAt(config, i)!
    if (free(nets)) return choice(nets, 'free')
  }
  return undefined
}
