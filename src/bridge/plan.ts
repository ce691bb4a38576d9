// Pure: bridge config + env + IPAM result + what the bridge looks like now -> the complete BridgePlan.
import type { MasqIntent, SpoofCheck } from '../firewall/model.ts'
import { formatCidr, formatIp, ipAdd, networkAddress, netsOverlap, parseCidr, parseIp, type IpFamily, type IpNet } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { hostVethName } from '../plugin/ids.ts'
import type { Result, ResultDns, ResultIp, ResultRoute } from '../plugin/result.ts'
import type { IpLink, IpOp, SysctlWrite, VlanOp } from '../system/index.ts'
import type { BridgeConfig } from './config.ts'

/** What the plan needs besides the config. */
export interface PlanInput {
  readonly config: BridgeConfig
  readonly containerId: string
  readonly ifname: string
  readonly netns: string
  /** The IPAM result (L3), undefined in L2 mode. */
  readonly ipam?: Result
  /** The bridge as `ip -j -d addr show dev <bridge>` saw it; undefined when it does not exist. */
  readonly bridge?: IpLink
  /** True when the existing bridge's MAC is already pinned (addr_assign_type 3, "set"). */
  readonly bridgeMacPinned: boolean
  /** The VLAN gateway interface `<bridge>.<vlan>` when it exists (L3 with vlan). */
  readonly vlanGateway?: IpLink
  /** Fresh random MACs for objects this ADD creates (randomness stays out of the plan). */
  readonly macs: { readonly bridge: string; readonly host: string; readonly container: string; readonly vlanGateway: string; readonly vlanGatewayPeer: string }
}

/** Everything ADD will do, decided before the first change. */
export interface BridgePlan {
  readonly bridge: { readonly name: string; readonly mac: string }
  readonly hostVeth: { readonly name: string; readonly mac: string }
  readonly container: { readonly ifname: string; readonly mac: string; readonly netns: string }
  readonly vlanGateway?: { readonly name: string; readonly mac: string }
  /** One host `ip -batch`: shared bridge changes first, then this container's veth from `vethIndex` on. */
  readonly hostOps: readonly IpOp[]
  readonly vethIndex: number
  /**
   * Set when this ADD creates the `<bridge>.<vlan>` gateway pair (its host op index): its VLAN is set only by the
   * ADD that creates it, so a failure before that leaves a pair that must go, or it would stay untagged for good.
   */
  readonly createsVlanGateway?: { readonly name: string; readonly index: number }
  /** `bridge -batch` VLAN membership, after the host batch. */
  readonly vlanOps: readonly VlanOp[]
  /** Host sysctls written after the host batch; failures of optional ones are ignored. */
  readonly hostSysctls: readonly SysctlWrite[]
  /** Forwarding switches, written only when not already on. */
  readonly forwarding: readonly string[]
  /** One container process: these sysctls, then this `ip -batch`. */
  readonly containerSysctls: readonly SysctlWrite[]
  readonly containerOps: readonly IpOp[]
  /** Wait for IPv6 DAD to finish (enabledad with IPv6 addresses). */
  readonly waitDad: boolean
  /** Wait for the host veth to become operationally up (the reference's bridge-port check). */
  readonly waitPort: boolean
  readonly masq?: MasqIntent
  readonly spoofCheck?: SpoofCheck
  /** Result parts: IPs (interface 2), routes, DNS. */
  readonly ips: readonly ResultIp[]
  readonly routes: readonly ResultRoute[]
  readonly dns?: ResultDns
}

type Addr = { readonly ip: ResultIp; readonly net: IpNet; readonly gateway?: string }

/** Builds the plan; throws a CniError for conflicts the config does not allow. */
export function buildPlan(input: PlanInput): BridgePlan {
  const { config, ifname, netns } = input
  if (input.bridge && input.bridge.kind !== 'bridge') throw new CniError(ErrorCode.Internal, `"${config.bridge}" already exists but is not a bridge`)
  const addrs = planAddresses(input)
  const hostVeth = hostVethName(config.network, input.containerId, ifname)
  const bridgeMac = input.bridge?.address || input.macs.bridge
  const containerMac = config.mac ?? input.macs.container
  const gwDev = config.vlan !== 0 ? `${config.bridge}.${config.vlan}` : config.bridge
  const gateways = config.isGateway ? gatewayNets(addrs) : []
  const vlanGw = config.vlan !== 0 && gateways.length > 0
  const hostOps: IpOp[] = [...bridgeOps(input, bridgeMac)]
  const vlanOps: VlanOp[] = []
  let createsVlanGateway: BridgePlan['createsVlanGateway']
  if (vlanGw && !input.vlanGateway) {
    const peer = vlanGatewayPeer(config)
    createsVlanGateway = { name: gwDev, index: hostOps.length }
    hostOps.push(
      { op: 'veth-add', a: { name: gwDev, mac: input.macs.vlanGateway }, b: { name: peer, mac: input.macs.vlanGatewayPeer } },
      { op: 'link-set', name: peer, master: config.bridge, up: true },
      { op: 'link-set', name: gwDev, up: true },
    )
    vlanOps.push(...portVlanOps(peer, config.vlan, [], config.preserveDefaultVlan, pvidOf(input)))
  }
  hostOps.push(...gatewayAddrOps(gateways, vlanGw ? input.vlanGateway : input.bridge, gwDev, config))
  const vethIndex = hostOps.length
  const mtu = config.mtu || undefined
  hostOps.push(
    { op: 'veth-add', a: { name: hostVeth, mac: input.macs.host, mtu }, b: { name: ifname, mac: containerMac, mtu, netns } },
    { op: 'link-set', name: hostVeth, master: config.bridge, up: true },
  )
  if (config.hairpinMode || config.portIsolation) {
    hostOps.push({ op: 'port-flags', name: hostVeth, ...(config.hairpinMode ? { hairpin: true } : {}), ...(config.portIsolation ? { isolated: true } : {}) })
  }
  if (config.vlan !== 0 || config.vlanTrunk.length > 0) {
    vlanOps.push(...portVlanOps(hostVeth, config.vlan, config.vlanTrunk, config.preserveDefaultVlan, pvidOf(input)))
  }
  const families = new Set(gateways.map((g) => g.ip.family))
  const routes = planRoutes(input, addrs)
  return {
    bridge: { name: config.bridge, mac: bridgeMac },
    hostVeth: { name: hostVeth, mac: input.macs.host },
    container: { ifname, mac: containerMac, netns },
    ...(vlanGw ? { vlanGateway: { name: gwDev, mac: input.vlanGateway?.address || input.macs.vlanGateway } } : {}),
    hostOps,
    vethIndex,
    ...(createsVlanGateway ? { createsVlanGateway } : {}),
    vlanOps,
    hostSysctls: [
      // "we want to own the routes for this interface" (reference): no router advertisements on host-side links.
      { key: `net/ipv6/conf/${config.bridge}/accept_ra`, value: '0', optional: true },
      { key: `net/ipv6/conf/${hostVeth}/accept_ra`, value: '0', optional: true },
    ],
    forwarding: [...(families.has(4) ? ['net/ipv4/ip_forward'] : []), ...(families.has(6) ? ['net/ipv6/conf/all/forwarding'] : [])],
    containerSysctls: containerSysctls(config, ifname, addrs),
    containerOps: containerOps(config, ifname, addrs, routes.apply),
    waitDad: config.enableDad && addrs.some((a) => a.net.ip.family === 6),
    waitPort: !config.disableContainerInterface,
    ...(config.ipMasq && addrs.length > 0 ? { masq: { kind: 'masquerade' as const, owner: { network: config.network, containerId: input.containerId, ifname }, addresses: addrs.map((a) => a.net) } } : {}),
    ...(config.macSpoofCheck ? { spoofCheck: { hostVeth, mac: containerMac, refId: `${input.containerId}-${ifname}` } } : {}),
    ips: addrs.map((a) => a.ip),
    routes: routes.result,
    ...(config.dns ? { dns: config.dns } : input.ipam?.dns ? { dns: input.ipam.dns } : {}),
  }
}

/** The deterministic name of the bridge-side peer of the `<bridge>.<vlan>` gateway veth. */
export function vlanGatewayPeer(config: BridgeConfig): string {
  return hostVethName(config.bridge, 'vlan-gateway', String(config.vlan))
}

function pvidOf(input: PlanInput): number {
  return input.bridge?.vlanDefaultPvid ?? 1
}

function planAddresses(input: PlanInput): Addr[] {
  if (!input.ipam) return []
  const ips = input.ipam.ips ?? []
  if (ips.length === 0) throw new CniError(ErrorCode.Internal, 'IPAM plugin returned missing IP config')
  return ips.map((ip) => {
    const net = parseCidr(ip.address)
    if (!net) throw new CniError(ErrorCode.DecodingFailure, `IPAM returned an invalid address "${ip.address}"`)
    let gateway = ip.gateway
    if (gateway !== undefined && parseIp(gateway)?.family !== net.ip.family) {
      throw new CniError(ErrorCode.DecodingFailure, `IPAM returned gateway "${gateway}" of another family than address "${ip.address}"`)
    }
    // The reference's calcGatewayIP: without a gateway from IPAM, a gateway bridge uses the subnet's first address.
    if (gateway === undefined && input.config.isGateway) gateway = formatIp(ipAdd(networkAddress(net), 1n)!)
    const out: ResultIp = { address: ip.address, ...(gateway ? { gateway } : {}), interface: 2 }
    return { ip: out, net, ...(gateway ? { gateway } : {}) }
  })
}

function gatewayNets(addrs: readonly Addr[]): IpNet[] {
  const out: IpNet[] = []
  for (const a of addrs) {
    if (!a.gateway) continue
    const net = { ip: parseIp(a.gateway)!, prefix: a.net.prefix }
    if (!out.some((n) => formatCidr(n) === formatCidr(net))) out.push(net)
  }
  return out
}

function bridgeOps(input: PlanInput, mac: string): IpOp[] {
  const { config } = input
  if (!input.bridge) {
    const vlanFiltering = config.vlan !== 0 || config.vlanTrunk.length > 0
    return [
      { op: 'bridge-add', name: config.bridge, mac, ...(config.mtu ? { mtu: config.mtu } : {}), ...(vlanFiltering ? { vlanFiltering } : {}) },
      { op: 'link-set', name: config.bridge, ...(config.promiscMode ? { promisc: true } : {}), up: true },
    ]
  }
  // Pin the MAC of a bridge someone else created, once: re-setting it on every ADD would flush neighbour caches.
  return [{ op: 'link-set', name: config.bridge, ...(input.bridgeMacPinned ? {} : { address: mac }), ...(config.promiscMode ? { promisc: true } : {}), up: true }]
}

// The reference's ensureAddr: the exact address is kept; any other IPv4 address, or an overlapping IPv6 one, is a
// conflict that forceAddress resolves by deleting it.
function gatewayAddrOps(gateways: readonly IpNet[], link: IpLink | undefined, dev: string, config: BridgeConfig): IpOp[] {
  const ops: IpOp[] = []
  const existing = (link?.addrs ?? []).map((a) => ({ text: `${a.local}/${a.prefixlen}`, net: parseCidr(`${a.local}/${a.prefixlen}`) })).filter((a) => a.net !== undefined)
  const wanted = new Set(gateways.map(formatCidr))
  const deleted = new Set<string>()
  for (const gw of gateways) {
    const cidr = formatCidr(gw)
    if (existing.some((a) => formatCidr(a.net!) === cidr)) continue
    for (const a of existing) {
      if (wanted.has(formatCidr(a.net!)) || deleted.has(a.text) || a.net!.ip.family !== gw.ip.family) continue
      if (gw.ip.family === 6 && !netsOverlap(a.net!, gw)) continue
      if (!config.forceAddress) {
        throw new CniError(ErrorCode.Internal, `"${dev}" already has an IP address different from ${cidr}`, { details: `it has ${a.text}; set forceAddress to replace it` })
      }
      deleted.add(a.text)
      ops.push({ op: 'addr-del', cidr: a.text, dev })
    }
    // The gateway is this node's own address on a node-local bridge: without nodad it stays tentative for ~2 s
    // after the bridge is created, and IPv6 traffic to and through it fails meanwhile (the reference waits that out).
    ops.push({ op: 'addr-add', cidr, dev, ...(gw.ip.family === 6 ? { nodad: true } : {}) })
  }
  return ops
}

function portVlanOps(dev: string, vlan: number, trunk: readonly number[], preserve: boolean, defaultPvid: number): VlanOp[] {
  const ops: VlanOp[] = []
  if (!preserve && defaultPvid > 0) ops.push({ op: 'vlan-del', dev, vid: defaultPvid })
  if (vlan !== 0) ops.push({ op: 'vlan-add', dev, vid: vlan, native: true })
  else if (trunk.length > 0 && !preserve) ops.push({ op: 'vlan-add', dev, vid: 1, native: true })
  for (const vid of trunk) if (vid !== vlan) ops.push({ op: 'vlan-add', dev, vid })
  return ops
}

function containerSysctls(config: BridgeConfig, ifname: string, addrs: readonly Addr[]): SysctlWrite[] {
  if (addrs.length === 0) return []
  const out: SysctlWrite[] = config.enableDad
    ? [{ key: `net/ipv6/conf/${ifname}/enhanced_dad`, value: '1', optional: true }, { key: `net/ipv6/conf/${ifname}/accept_dad`, value: '1', optional: true }]
    : [{ key: `net/ipv6/conf/${ifname}/accept_dad`, value: '0', optional: true }]
  out.push({ key: `net/ipv4/conf/${ifname}/arp_notify`, value: '1', optional: true })
  if (addrs.some((a) => a.net.ip.family === 6)) {
    // Containers often start with IPv6 disabled (docs/architecture.md, bridge facts); keep addresses when the link goes down.
    out.push(
      { key: 'net/ipv6/conf/lo/disable_ipv6', value: '0' },
      { key: `net/ipv6/conf/${ifname}/disable_ipv6`, value: '0' },
      { key: `net/ipv6/conf/${ifname}/keep_addr_on_down`, value: '1' },
    )
  }
  return out
}

function containerOps(config: BridgeConfig, ifname: string, addrs: readonly Addr[], routes: readonly PlannedRoute[]): IpOp[] {
  const ops: IpOp[] = addrs.map((a) => ({ op: 'addr-add' as const, cidr: a.ip.address, dev: ifname }))
  if (!config.disableContainerInterface) ops.push({ op: 'link-set', name: ifname, up: true })
  for (const r of routes) ops.push({ op: 'route-add', route: { ...r, dev: ifname } })
  return ops
}

type PlannedRoute = { dst: string; gw?: string; metric?: number; table?: number; scope?: number }

function familyOfDst(dst: string): IpFamily | undefined {
  return parseCidr(dst)?.ip.family
}

function isDefault(dst: string): boolean {
  const net = parseCidr(dst)
  return net !== undefined && net.prefix === 0
}

// IPAM routes, plus a default route per family for isDefaultGateway when the IPAM gave none for that family; the
// applied list fills in missing gateways and drops identical duplicates (the kernel refuses an identical route with EEXIST; docs/architecture.md, bridge facts).
function planRoutes(input: PlanInput, addrs: readonly Addr[]): { result: ResultRoute[]; apply: PlannedRoute[] } {
  const result: ResultRoute[] = [...(input.ipam?.routes ?? [])].map((r) => ({ ...r }))
  const firstGw = (family: IpFamily) => addrs.find((a) => a.net.ip.family === family && a.gateway)?.gateway
  if (input.config.isDefaultGateway) {
    for (const family of [4, 6] as const) {
      const gw = firstGw(family)
      if (!gw || result.some((r) => familyOfDst(r.dst) === family && isDefault(r.dst))) continue
      result.push({ dst: family === 4 ? '0.0.0.0/0' : '::/0', gw })
    }
  }
  const apply: PlannedRoute[] = []
  const seen = new Set<string>()
  for (const r of result) {
    const family = familyOfDst(r.dst)
    if (family === undefined) throw new CniError(ErrorCode.DecodingFailure, `IPAM returned a route with an invalid destination "${r.dst}"`)
    const gw = r.gw ?? firstGw(family)
    const planned: PlannedRoute = { dst: formatCidr(parseCidr(r.dst)!), ...(gw ? { gw } : {}), ...(r.priority !== undefined ? { metric: r.priority } : {}),
      ...(r.table !== undefined ? { table: r.table } : {}), ...(r.scope !== undefined ? { scope: r.scope } : {}) }
    const key = JSON.stringify(planned)
    if (seen.has(key)) continue
    seen.add(key)
    apply.push(planned)
  }
  return { result, apply }
}
