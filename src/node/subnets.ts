// Cutting the cluster CIDR into per-node subnets, their store key names, and which subnet a node should lease.
import { formatIp, ipAdd, netContains, networkAddress, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig } from './cluster-config.ts'

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

/** The "a.b.c.d/len" text of a subnet. */
export function subnetText(net: IpNet): string {
  return `${formatIp(net.ip)}/${net.prefix}`
}

/** How many node subnets the cluster has: all but the first, which holds the network address (as flannel's SubnetMin). */
export function subnetCount(c: ClusterConfig): number {
  return 2 ** (c.subnetLen - c.network.prefix) - 1
}

/** The i-th node subnet (0-based, skipping the cluster's first subnet); undefined past the end. */
export function subnetAt(c: ClusterConfig, i: number): IpNet | undefined {
  if (!Number.isInteger(i) || i < 0 || i >= subnetCount(c)) return undefined
  const ip = ipAdd(c.network.ip, BigInt(i + 1) << BigInt(32 - c.subnetLen))
  return ip && { ip, prefix: c.subnetLen }
}

/** True when the subnet is one the cluster could hand out: inside the network, of the node size, not the first. */
export function isNodeSubnet(c: ClusterConfig, net: IpNet): boolean {
  return net.ip.family === 4 && net.prefix === c.subnetLen && netContains(c.network, net.ip)
    && networkAddress(net).value === net.ip.value && net.ip.value !== c.network.ip.value
}

/** A lease already in the store, as far as choosing needs it. */
export interface TakenSubnet {
  readonly key: string
  /** The PublicIP of a valid lease; undefined when the entry is unreadable (it still blocks its key). */
  readonly publicIp?: string
}

/** Why a subnet was chosen. */
export type SubnetChoice =
  | { readonly subnet: IpNet; readonly reason: 'public-ip'; readonly key: string }
  | { readonly subnet: IpNet; readonly reason: 'state-file' | 'free'; readonly key: string }

/**
 * The subnet this node should lease (flannel's order, pkg/subnet/etcd/local_manager.go): the one a lease with our
 * PublicIP already holds (a restart before it expired), else the one in our state file when it is free and still
 * valid for the config, else the lowest free one. Undefined when the cluster is full.
 */
export function chooseSubnet(input: { config: ClusterConfig; taken: readonly TakenSubnet[]; publicIp: string; previous?: IpNet | undefined }): SubnetChoice | undefined {
  const { config, taken, publicIp, previous } = input
  const mine = taken
    .filter((t) => t.publicIp === publicIp)
    .map((t) => ({ t, net: parseSubnetKey(t.key) }))
    .filter((x): x is { t: TakenSubnet; net: IpNet } => x.net !== undefined && isNodeSubnet(config, x.net))
    // Several (a config change, a manual copy): prefer the state file's, else the lowest, deterministically.
    .sort((a, b) => (previous && subnetKey(previous) === a.t.key ? -1 : previous && subnetKey(previous) === b.t.key ? 1 : Number(a.net.ip.value - b.net.ip.value)))
  if (mine[0]) return { subnet: mine[0].net, reason: 'public-ip', key: mine[0].t.key }
  const used = new Set(taken.map((t) => t.key))
  if (previous && isNodeSubnet(config, previous) && !used.has(subnetKey(previous))) {
    return { subnet: previous, reason: 'state-file', key: subnetKey(previous) }
  }
  const count = subnetCount(config)
  for (let i = 0; i < count; i++) {
    const net = subnetAt(config, i)!
    const key = subnetKey(net)
    if (!used.has(key)) return { subnet: net, reason: 'free', key }
  }
  return undefined
}
