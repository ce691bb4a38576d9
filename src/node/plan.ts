// The planner: from this node's lease and the peers' to the data plane it wants (VXLAN device, routes,
// neighbours, FDB entries). Pure; reconcile.ts compares the result with what the kernel has.
import { familyBits, formatIp, ipAdd, netContains, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig } from './cluster-config.ts'
import type { Lease } from './lease-model.ts'
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
  /** Its global IPv6 address with prefix, where it has one (the PublicIPv6 and host-gw's IPv6 segment). */
  readonly address6?: IpNet
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
  /**
   * `<subnet.0>/32` (`<subnet>::/128` in an IPv6-only cluster): the source of host-to-remote-pod traffic, and the
   * next hop peers route to.
   */
  readonly address: string
  /** Dual-stack: `<subnet6>::/128`, the same for IPv6 on the same device. */
  readonly address6?: string
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

/** A lease's subnets, primary first (one or two families). */
export function subnetsOf(l: Lease): IpNet[] {
  return l.subnet6 ? [l.subnet, l.subnet6] : [l.subnet]
}

/** The address of the VXLAN device for a subnet: its zero address as a host route. */
function deviceAddress(net: IpNet): string {
  return `${subnetZero(net)}/${familyBits(net.ip.family)}`
}

/**
 * host-gw's routes to one peer: IPv4 via its PublicIP, IPv6 via its PublicIPv6, each only when that address is
 * on this node's segment of its family (a gateway must be directly connected, see below).
 */
function hostGwRoutes(p: Lease, uplink: Uplink, warnings: string[]): NodeRoute[] {
  return subnetsOf(p).flatMap((net) => {
    const gw = net.ip.family === 4 ? p.publicIp : p.publicIpv6
    const segment = net.ip.family === 4 ? uplink.address : uplink.address6
    if (gw === undefined) {
      warnings.push(`skipping the IPv6 route to peer ${subnetText(net)}: its lease has no PublicIPv6 (host-gw routes IPv6 via the peer's IPv6 address)`)
      return []
    }
    // A gateway must be directly connected: the kernel refuses one that is not ("Nexthop has invalid gateway"),
    // and `onlink` would hide that and fail silently at ARP time. Such a peer needs vxlan.
    if (!segment || !netContains(segment, parseIp(gw)!)) {
      const what = net.ip.family === 4 ? 'PublicIP' : 'PublicIPv6'
      warnings.push(`skipping peer ${subnetText(net)}: host-gw needs its ${what} ${gw} on this node's segment ${segment ? subnetText(segment) : '(none: the uplink has no global IPv6 address)'} (use vxlan across routers)`)
      return []
    }
    return [{ dst: subnetText(net), gw, dev: uplink.name, onlink: false }]
  })
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
    return { routes: usable.flatMap((p) => hostGwRoutes(p, uplink, warnings)), neighbours: [], fdb: [], warnings }
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
    address: deviceAddress(self.subnet),
    ...(self.subnet6 ? { address6: deviceAddress(self.subnet6) } : {}),
  }
  const withMac = usable.filter((p): p is Lease & { vtepMac: string } => p.vtepMac !== undefined)
  // One device carries both families over the IPv4 underlay: per peer one FDB entry, and per family a neighbour
  // entry for its zero address and a route via it (the peer's device holds that address, see `address6`).
  return {
    vxlan,
    neighbours: withMac.flatMap((p) => subnetsOf(p).map((net) => ({ ip: subnetZero(net), mac: p.vtepMac, dev: name }))),
    fdb: withMac.map((p) => ({ mac: p.vtepMac, dst: p.publicIp, dev: name })),
    // `onlink`: the .0 next hop is not on any local prefix; the neighbour entry above resolves it.
    routes: withMac.flatMap((p) => subnetsOf(p).map((net) => ({ dst: subnetText(net), gw: subnetZero(net), dev: name, onlink: true }))),
    warnings,
  }
}

/** The uplink's IPv6 address as a lease's PublicIPv6; undefined when it has none. */
export function publicIpv6Of(uplink: Uplink): string | undefined {
  return uplink.address6 && formatIp(uplink.address6.ip)
}

/** The first usable address of a subnet: the bridge gateway pods use (either family). */
export function gatewayOf(net: IpNet): string {
  return formatIp(ipAdd(net.ip, 1n)!)
}
