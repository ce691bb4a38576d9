// The planner: from this node's lease and the peers' to the data plane it wants (VXLAN device, routes,
// neighbours, FDB entries). Pure; reconcile.ts compares the result with what the kernel has.
import { formatIp, ipAdd, netContains, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig } from './cluster-config.ts'
import type { Lease } from './leases.ts'
import { subnetText } from './subnets.ts'

/**
 * The `proto` number on every route the node agent installs, so a reconcile finds its own routes and leaves
 * everyone else's alone (kube-router tags its routes the same way; cilium/cilium#6975 is what happens otherwise).
 * Unassigned in iproute2's rt_protos.
 */
export const ROUTE_PROTO = 77

/** VXLAN adds 50 bytes of headers to an IPv4 frame (outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14, RFC 7348). */
export const VXLAN_OVERHEAD = 50

/** The VXLAN device's name for a VNI (at most 14 characters, below IFNAMSIZ). */
export function vxlanName(vni: number): string {
  return `tscni.${vni}`
}

/**
 * The VTEP MAC of a node, derived from its IPv4 address so it is the same after every restart and peers' entries
 * stay valid (random MACs went stale across reboots: flannel-io/flannel#1795). 0e has the locally administered
 * bit set and the group bit clear.
 */
export function vtepMac(publicIp: string): string {
  const ip = parseIp(publicIp)
  if (!ip || ip.family !== 4) throw new Error(`vtepMac: not an IPv4 address: ${publicIp}`)
  const bytes = [24n, 16n, 8n, 0n].map((s) => Number((ip.value >> s) & 0xffn).toString(16).padStart(2, '0'))
  return `0e:2a:${bytes.join(':')}`
}

/** The uplink: the interface that carries traffic to the other nodes. */
export interface Uplink {
  readonly name: string
  readonly mtu: number
  /** Its IPv4 address with prefix (the node's PublicIP and the segment host-gw peers must be on). */
  readonly address: IpNet
}

/** The VXLAN device the node wants. */
export interface VxlanDevice {
  readonly name: string
  readonly vni: number
  readonly port: number
  readonly local: string
  readonly dev: string
  readonly mac: string
  readonly mtu: number
  /** `<subnet.0>/32`: the source of host-to-remote-pod traffic, and the next hop peers route to. */
  readonly address: string
}

/** A route to a peer's subnet. */
export interface NodeRoute {
  readonly dst: string
  readonly gw: string
  readonly dev: string
  readonly onlink: boolean
}

/** A permanent neighbour (ARP) entry on the VXLAN device. */
export interface Neighbour {
  readonly ip: string
  readonly mac: string
  readonly dev: string
}

/** A forwarding-database entry: which node's address a VTEP MAC is reached at. */
export interface FdbEntry {
  readonly mac: string
  readonly dst: string
  readonly dev: string
}

/** Everything the node wants in the kernel, plus why peers were left out. */
export interface DataPlane {
  readonly vxlan?: VxlanDevice
  readonly routes: readonly NodeRoute[]
  readonly neighbours: readonly Neighbour[]
  readonly fdb: readonly FdbEntry[]
  readonly warnings: readonly string[]
}

/** The next hop of a VXLAN subnet: its `.0` address (it is on the peer's VXLAN device). */
export function subnetZero(net: IpNet): string {
  return formatIp(net.ip)
}

/** Plans the data plane for this node and its peers (the peers' own leases are skipped if self is among them). */
export function planDataPlane(input: { config: ClusterConfig; self: Lease; peers: readonly Lease[]; uplink: Uplink }): DataPlane {
  const { config, self, peers, uplink } = input
  const warnings: string[] = []
  const others = peers.filter((p) => p.key !== self.key).sort((a, b) => Number(a.subnet.ip.value - b.subnet.ip.value))
  const usable = others.filter((p) => {
    if (p.publicIp === self.publicIp) {
      warnings.push(`skipping peer ${subnetText(p.subnet)}: its PublicIP ${p.publicIp} is this node's own (a stale lease of this node?)`)
      return false
    }
    return true
  })
  if (config.backend.type === 'host-gw') {
    const routes = usable.flatMap((p) => {
      // A gateway must be directly connected: the kernel refuses one that is not ("Nexthop has invalid gateway"),
      // and `onlink` would hide that and fail silently at ARP time. Such a peer needs vxlan.
      if (!netContains(uplink.address, parseIp(p.publicIp)!)) {
        warnings.push(`skipping peer ${subnetText(p.subnet)}: host-gw needs its PublicIP ${p.publicIp} on this node's segment ${subnetText(uplink.address)} (use vxlan across routers)`)
        return []
      }
      return [{ dst: subnetText(p.subnet), gw: p.publicIp, dev: uplink.name, onlink: false }]
    })
    return { routes, neighbours: [], fdb: [], warnings }
  }
  const name = vxlanName(config.backend.vni)
  const vxlan: VxlanDevice = {
    name,
    vni: config.backend.vni,
    port: config.backend.port,
    local: self.publicIp,
    dev: uplink.name,
    mac: self.vtepMac ?? vtepMac(self.publicIp),
    mtu: uplink.mtu - VXLAN_OVERHEAD,
    address: `${subnetZero(self.subnet)}/32`,
  }
  const withMac = usable.filter((p): p is Lease & { vtepMac: string } => p.vtepMac !== undefined)
  return {
    vxlan,
    neighbours: withMac.map((p) => ({ ip: subnetZero(p.subnet), mac: p.vtepMac, dev: name })),
    fdb: withMac.map((p) => ({ mac: p.vtepMac, dst: p.publicIp, dev: name })),
    // `onlink`: the .0 next hop is not on any local prefix; the neighbour entry above resolves it.
    routes: withMac.map((p) => ({ dst: subnetText(p.subnet), gw: subnetZero(p.subnet), dev: name, onlink: true })),
    warnings,
  }
}

/** The first usable address of a subnet: the bridge gateway pods use. */
export function gatewayOf(net: IpNet): string {
  return formatIp(ipAdd(net.ip, 1n)!)
}
