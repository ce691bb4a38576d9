// rtnetlink requests for tscni's ip operations and the decoding of link and address replies (pure): the same
// changes `ip -batch` lines make, as RTM_* messages (rtnetlink(7), linux/if_link.h, linux/if_addr.h, linux/rtnetlink.h).
import {
  attrString, bytes, decodeAttrs, encodeAttrs, nest, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, str, u32, u8, type Attr,
} from './netlink-codec.ts'
import type { IpAddrInfo, IpLink, IpRoute } from './ip-json.ts'
import type { RouteSpec } from './ip.ts'

export const RTM_NEWLINK = 16
export const RTM_DELLINK = 17
export const RTM_GETLINK = 18
export const RTM_NEWADDR = 20
export const RTM_DELADDR = 21
export const RTM_GETADDR = 22
export const RTM_NEWROUTE = 24
export const RTM_GETROUTE = 26

const AF_UNSPEC = 0
export const AF_INET = 2
export const AF_INET6 = 10
const IFF_UP = 0x1
const IFF_PROMISC = 0x100
const IFF_ALLMULTI = 0x200

const IFLA_ADDRESS = 1
const IFLA_IFNAME = 3
const IFLA_MTU = 4
const IFLA_TXQLEN = 13
const IFLA_LINK = 5
const IFLA_MASTER = 10
const IFLA_OPERSTATE = 16
const IFLA_LINKINFO = 18
const IFLA_NET_NS_FD = 28
const IFLA_PROMISCUITY = 30
const IFLA_INFO_KIND = 1
const IFLA_INFO_DATA = 2
const IFLA_INFO_SLAVE_KIND = 4
const IFLA_INFO_SLAVE_DATA = 5
const VETH_INFO_PEER = 1
const IFLA_BR_VLAN_FILTERING = 7
const IFLA_BR_VLAN_DEFAULT_PVID = 39
const IFLA_BRPORT_MODE = 4
const IFLA_BRPORT_ISOLATED = 33

const IFA_ADDRESS = 1
const IFA_LOCAL = 2
const IFA_FLAGS = 8
const IFA_F_NODAD = 0x02
const IFA_F_DADFAILED = 0x08
const IFA_F_TENTATIVE = 0x40

const RTA_DST = 1
const RTA_OIF = 4
const RTA_GATEWAY = 5
const RTA_PRIORITY = 6
const RTA_TABLE = 15
const RT_TABLE_MAIN = 254
const RTPROT_BOOT = 3
const RT_SCOPE_UNIVERSE = 0
const RT_SCOPE_LINK = 253
const RTN_UNICAST = 1

/** One request: message type, flags and body (the header is added by the socket layer with its sequence number). */
export interface NlRequest {
  readonly type: number
  readonly flags: number
  readonly body: Buffer
}

const NEW = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
const SET = NLM_F_REQUEST | NLM_F_ACK

/** struct ifinfomsg: family, type, index, flags and the mask of flags to change. */
function ifinfomsg(o: { index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt8(AF_UNSPEC, 0)
  b.writeInt32LE(o.index ?? 0, 4)
  b.writeUInt32LE(o.flags ?? 0, 8)
  b.writeUInt32LE(o.change ?? 0, 12)
  return b
}

/** "0a:1b:..." as 6 bytes; refuses anything else (the kernel would take a wrong length as another hardware type). */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(':')
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`invalid MAC address "${mac}"`)
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)))
}

/** An address as the kernel stores it (4 or 16 bytes) and its family. */
export function ipBytes(ip: string): { family: number; bytes: Buffer } {
  // Parsed here rather than with node:net's isIP: loading node:net costs ~4 ms of a call that runs no command.
  const v4 = ipv4Bytes(ip)
  if (v4) return { family: AF_INET, bytes: v4 }
  const v6 = ip.includes(':') ? ipv6Bytes(ip) : undefined
  if (v6) return { family: AF_INET6, bytes: v6 }
  throw new Error(`invalid IP address "${ip}"`)
}

// Dotted quad, each part 0-255 in decimal without leading zeros (as inet_pton(3) and isIP accept it).
function ipv4Bytes(ip: string): Buffer | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined
  return Buffer.from(parts.map(Number))
}

// RFC 4291 text forms: eight groups of 1-4 hex digits, one "::" for a run of zero groups, an IPv4 tail.
function ipv6Bytes(ip: string): Buffer | undefined {
  let text = ip
  const tail4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail4) {
    const b = ipv4Bytes(tail4[1]!)
    if (!b) return undefined
    text = `${text.slice(0, tail4.index + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (g: string): number[] | undefined => {
    if (g === '') return []
    const parts = g.split(':')
    return parts.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? parts.map((x) => Number.parseInt(x, 16)) : undefined
  }
  const h = groups(halves[0]!)
  const t = halves.length === 2 ? groups(halves[1]!) : []
  if (!h || !t) return undefined
  const missing = 8 - h.length - t.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const words = [...h, ...new Array<number>(missing).fill(0), ...t]
  const b = Buffer.alloc(16)
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2))
  return b
}

/** "10.0.0.0/8" into address bytes, family and prefix length. */
export function cidrBytes(cidr: string): { family: number; bytes: Buffer; prefix: number } {
  const slash = cidr.lastIndexOf('/')
  const { family, bytes } = ipBytes(slash === -1 ? cidr : cidr.slice(0, slash))
  const prefix = slash === -1 ? bytes.length * 8 : Number(cidr.slice(slash + 1))
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) throw new Error(`invalid prefix in "${cidr}"`)
  return { family, bytes, prefix }
}

/** RTM_GETLINK of one device by name (the reply is its RTM_NEWLINK), or a dump of all when no name is given. */
export function getLinkRequest(name?: string): NlRequest {
  return name === undefined
    ? { type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_DUMP, body: ifinfomsg() }
    : { type: RTM_GETLINK, flags: NLM_F_REQUEST, body: Buffer.concat([ifinfomsg(), encodeAttrs([str(IFLA_IFNAME, name)])]) }
}

/** RTM_GETADDR dump (every address of every link of the namespace; filtered by the caller). */
export function getAddrRequest(): NlRequest {
  return { type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP, body: Buffer.alloc(8) }
}

/** rtm_flags of a route that is a cached clone, which iproute2 leaves out of `ip route show`. */
export const RTM_F_CLONED = 0x200

/** RTM_GETROUTE dump of every table and both families (what `ip route show table all` asks for). */
export function getRouteRequest(): NlRequest {
  return { type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, body: Buffer.alloc(12) }
}

/** `link add name <n> [address] [mtu] type bridge [vlan_filtering 1]`. */
export function bridgeAddRequest(o: { name: string; mac?: string; mtu?: number; vlanFiltering?: boolean }): NlRequest {
  const attrs: Attr[] = [str(IFLA_IFNAME, o.name)]
  if (o.mac) attrs.push(bytes(IFLA_ADDRESS, macBytes(o.mac)))
  if (o.mtu) attrs.push(u32(IFLA_MTU, o.mtu))
  attrs.push(nest(IFLA_LINKINFO, [str(IFLA_INFO_KIND, 'bridge'), ...(o.vlanFiltering ? [nest(IFLA_INFO_DATA, [u8(IFLA_BR_VLAN_FILTERING, 1)])] : [])]))
  return { type: RTM_NEWLINK, flags: NEW, body: Buffer.concat([ifinfomsg(), encodeAttrs(attrs)]) }
}

/** One veth end's attributes; `nsFd` is a descriptor of its namespace (the caller opens and closes it). */
export interface VethEndSpec {
  readonly name: string
  readonly mac?: string
  readonly mtu?: number
  readonly nsFd?: number
}

function endAttrs(e: VethEndSpec): Attr[] {
  return [str(IFLA_IFNAME, e.name), ...(e.mac ? [bytes(IFLA_ADDRESS, macBytes(e.mac))] : []), ...(e.mtu ? [u32(IFLA_MTU, e.mtu)] : []),
    ...(e.nsFd !== undefined ? [u32(IFLA_NET_NS_FD, e.nsFd)] : [])]
}

/** `link add name <a> ... type veth peer name <b> ...`: the peer is a nested ifinfomsg with its own attributes. */
export function vethAddRequest(a: VethEndSpec, b: VethEndSpec): NlRequest {
  const peer = { type: VETH_INFO_PEER, data: Buffer.concat([ifinfomsg(), encodeAttrs(endAttrs(b))]) }
  const attrs: Attr[] = [...endAttrs(a), nest(IFLA_LINKINFO, [str(IFLA_INFO_KIND, 'veth'), nest(IFLA_INFO_DATA, [peer])])]
  return { type: RTM_NEWLINK, flags: NEW, body: Buffer.concat([ifinfomsg(), encodeAttrs(attrs)]) }
}

/** `link set dev <n> [master] [address] [promisc on|off] [allmulticast on|off] [txqueuelen N] [up]`; `masterIndex` resolved by the caller. */
export function linkSetRequest(index: number, o: { masterIndex?: number; mac?: string; promisc?: boolean; allmulti?: boolean; txqlen?: number; up?: boolean }): NlRequest {
  // ifi_change names the flags to change and ifi_flags their new values: `up: false` clears IFF_UP (ip link set
  // down); an undefined flag is left as it is.
  const flags = (o.up ? IFF_UP : 0) | (o.promisc ? IFF_PROMISC : 0) | (o.allmulti ? IFF_ALLMULTI : 0)
  const change = (o.up !== undefined ? IFF_UP : 0) | (o.promisc !== undefined ? IFF_PROMISC : 0) | (o.allmulti !== undefined ? IFF_ALLMULTI : 0)
  const attrs: Attr[] = [...(o.masterIndex !== undefined ? [u32(IFLA_MASTER, o.masterIndex)] : []), ...(o.mac ? [bytes(IFLA_ADDRESS, macBytes(o.mac))] : []),
    ...(o.txqlen !== undefined ? [u32(IFLA_TXQLEN, o.txqlen)] : [])]
  return { type: RTM_NEWLINK, flags: SET, body: Buffer.concat([ifinfomsg({ index, flags, change }), encodeAttrs(attrs)]) }
}

/** `link set dev <n> type bridge_slave [hairpin on|off] [isolated on|off]`. */
export function portFlagsRequest(index: number, o: { hairpin?: boolean; isolated?: boolean }): NlRequest {
  const data: Attr[] = [
    ...(o.hairpin !== undefined ? [u8(IFLA_BRPORT_MODE, o.hairpin ? 1 : 0)] : []),
    ...(o.isolated !== undefined ? [u8(IFLA_BRPORT_ISOLATED, o.isolated ? 1 : 0)] : []),
  ]
  const attrs = [nest(IFLA_LINKINFO, [str(IFLA_INFO_SLAVE_KIND, 'bridge'), nest(IFLA_INFO_SLAVE_DATA, data)])]
  return { type: RTM_NEWLINK, flags: SET, body: Buffer.concat([ifinfomsg({ index }), encodeAttrs(attrs)]) }
}

/** `link del dev <n>`. */
export function linkDelRequest(index: number): NlRequest {
  return { type: RTM_DELLINK, flags: SET, body: ifinfomsg({ index }) }
}

/** `addr add|del <cidr> dev <n> [nodad]` (IFA_LOCAL and IFA_ADDRESS both set, as iproute2 does). */
export function addrRequest(op: 'add' | 'del', cidr: string, index: number, nodad = false): NlRequest {
  const { family, bytes: addr, prefix } = cidrBytes(cidr)
  const b = Buffer.alloc(8)
  b.writeUInt8(family, 0)
  b.writeUInt8(prefix, 1)
  b.writeUInt8(nodad ? IFA_F_NODAD : 0, 2)
  b.writeUInt8(0, 3)
  b.writeUInt32LE(index, 4)
  const attrs = [bytes(IFA_LOCAL, addr), bytes(IFA_ADDRESS, addr), ...(nodad ? [u32(IFA_FLAGS, IFA_F_NODAD)] : [])]
  return op === 'add'
    ? { type: RTM_NEWADDR, flags: NEW, body: Buffer.concat([b, encodeAttrs(attrs)]) }
    : { type: RTM_DELADDR, flags: SET, body: Buffer.concat([b, encodeAttrs(attrs)]) }
}

/**
 * `route prepend <dst> [via gw] dev <n> [metric] [table] [scope]`: NLM_F_CREATE without NLM_F_EXCL. Scope defaults
 * as iproute2's: link for a route without gateway, universe with one; protocol boot (iproute2's default).
 */
export function routeAddRequest(r: RouteSpec, oif: number): NlRequest {
  const dst = cidrBytes(r.dst)
  const b = Buffer.alloc(12)
  const table = r.table ?? RT_TABLE_MAIN
  b.writeUInt8(dst.family, 0)
  b.writeUInt8(dst.prefix, 1)
  b.writeUInt8(table < 256 ? table : 0, 4)
  b.writeUInt8(RTPROT_BOOT, 5)
  b.writeUInt8(r.scope ?? (r.gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK), 6)
  b.writeUInt8(RTN_UNICAST, 7)
  const attrs: Attr[] = []
  if (dst.prefix > 0) attrs.push(bytes(RTA_DST, dst.bytes))
  if (r.gw) {
    const gw = ipBytes(r.gw)
    if (gw.family !== dst.family) throw new Error(`gateway ${r.gw} is not of the family of ${r.dst}`)
    attrs.push(bytes(RTA_GATEWAY, gw.bytes))
  }
  attrs.push(u32(RTA_OIF, oif))
  if (r.metric !== undefined) attrs.push(u32(RTA_PRIORITY, r.metric))
  if (table >= 256) attrs.push(u32(RTA_TABLE, table))
  return { type: RTM_NEWROUTE, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, body: Buffer.concat([b, encodeAttrs(attrs)]) }
}

// --- decoding -------------------------------------------------------------------------------------------------

const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP']
// The flag names in the order iproute2 prints them (ip/ipaddress.c print_link_flags), so both paths agree.
const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x8, 'LOOPBACK'], [0x2, 'BROADCAST'], [0x10, 'POINTOPOINT'], [0x1000, 'MULTICAST'], [0x80, 'NOARP'], [0x200, 'ALLMULTI'], [0x100, 'PROMISC'],
  [0x400, 'MASTER'], [0x800, 'SLAVE'], [0x4, 'DEBUG'], [0x8000, 'DYNAMIC'], [0x4000, 'AUTOMEDIA'], [0x2000, 'PORTSEL'], [0x20, 'NOTRAILERS'],
  [0x1, 'UP'], [0x10000, 'LOWER_UP'], [0x20000, 'DORMANT'], [0x40000, 'ECHO'],
]
const IFF_RUNNING = 0x40
const IFLA_LINK_NETNSID = 37

/** A link from an RTM_NEWLINK body, without addresses or master name (the caller resolves those). */
export interface DecodedLink extends Omit<IpLink, 'addrs' | 'master'> {
  readonly masterIndex?: number
}

export function decodeLink(body: Buffer): DecodedLink {
  const index = body.readInt32LE(4)
  const flags = body.readUInt32LE(8)
  const a = decodeAttrs(body, 16)
  const info = a.get(IFLA_LINKINFO)
  const li = info ? decodeAttrs(info) : new Map<number, Buffer>()
  const kind = attrString(li.get(IFLA_INFO_KIND))
  const slaveKind = attrString(li.get(IFLA_INFO_SLAVE_KIND))
  const data = li.get(IFLA_INFO_DATA)
  const br = kind === 'bridge' && data ? decodeAttrs(data) : undefined
  const slave = li.get(IFLA_INFO_SLAVE_DATA)
  const port = slaveKind === 'bridge' && slave ? decodeAttrs(slave) : undefined
  const mac = a.get(IFLA_ADDRESS)
  // iproute2 says NO-CARRIER, first, for a link that is up but not running.
  const flagNames = [...((flags & IFF_UP) && !(flags & IFF_RUNNING) ? ['NO-CARRIER'] : []), ...FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n)]
  const u32Of = (m: Map<number, Buffer> | undefined, t: number): number | undefined => { const v = m?.get(t); return v && v.length >= 4 ? v.readUInt32LE(0) : undefined }
  const u8Of = (m: Map<number, Buffer> | undefined, t: number): number | undefined => m?.get(t)?.[0]
  const pvid = br?.get(IFLA_BR_VLAN_DEFAULT_PVID)
  const link = u32Of(a, IFLA_LINK)
  const master = u32Of(a, IFLA_MASTER)
  return {
    ifindex: index,
    ifname: attrString(a.get(IFLA_IFNAME)) ?? '',
    flags: flagNames,
    mtu: u32Of(a, IFLA_MTU) ?? 0,
    operstate: OPERSTATES[u8Of(a, IFLA_OPERSTATE) ?? 0] ?? 'UNKNOWN',
    address: mac ? [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':') : '',
    ...(master ? { masterIndex: master } : {}),
    // iproute2 reports link_index only for a peer in another namespace (a link-netnsid); otherwise a name.
    ...(link !== undefined && link !== index && a.has(IFLA_LINK_NETNSID) ? { linkIndex: link } : {}),
    promiscuity: u32Of(a, IFLA_PROMISCUITY) ?? 0,
    ...(u32Of(a, IFLA_TXQLEN) !== undefined ? { txqlen: u32Of(a, IFLA_TXQLEN) } : {}),
    ...(kind ? { kind } : {}),
    ...(slaveKind ? { slaveKind } : {}),
    ...(br ? { vlanFiltering: u8Of(br, IFLA_BR_VLAN_FILTERING) === 1 } : {}),
    ...(pvid && pvid.length >= 2 ? { vlanDefaultPvid: pvid.readUInt16LE(0) } : {}),
    ...(port ? { hairpin: u8Of(port, IFLA_BRPORT_MODE) === 1, isolated: u8Of(port, IFLA_BRPORT_ISOLATED) === 1 } : {}),
  }
}

const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' }

/** An address from an RTM_NEWADDR body, with the index of its link. */
export function decodeAddr(body: Buffer): { index: number; addr: IpAddrInfo } {
  const family = body.readUInt8(0)
  const prefixlen = body.readUInt8(1)
  const scope = body.readUInt8(3)
  const index = body.readUInt32LE(4)
  const a = decodeAttrs(body, 8)
  const flagsAttr = a.get(IFA_FLAGS)
  const flags = flagsAttr && flagsAttr.length >= 4 ? flagsAttr.readUInt32LE(0) : body.readUInt8(2)
  const raw = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS) ?? Buffer.alloc(0)
  return {
    index,
    addr: {
      family: family === AF_INET6 ? 'inet6' : 'inet',
      local: formatIpBytes(raw),
      prefixlen,
      scope: SCOPES[scope] ?? String(scope),
      tentative: Boolean(flags & IFA_F_TENTATIVE),
      dadfailed: Boolean(flags & IFA_F_DADFAILED),
    },
  }
}

// The names iproute2 prints for route types, tables and protocols (rtnetlink(7), iproute2's rt_protos); any other
// number is printed as a number, which is how `ip -j` gives the node agent's tag (77).
const ROUTE_TYPES: Record<number, string> = { 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat', 11: 'xresolve' }
const ROUTE_TABLES: Record<number, string> = { 253: 'default', 255: 'local' }
const ROUTE_PROTOCOLS: Record<number, string> = { 1: 'redirect', 2: 'kernel', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp' }

/**
 * A route from an RTM_NEWROUTE body, in the shape `ip -j route show table all` prints it (see ip-json.ts's
 * IpRoute): no type for unicast, no table for main, no protocol for boot, no scope for universe, a host route
 * without its "/len", "default" for a zero-length destination. `names` maps link indexes to names for `dev`.
 */
export function decodeRoute(body: Buffer, names: ReadonlyMap<number, string>): IpRoute {
  const family = body.readUInt8(0)
  const dstLen = body.readUInt8(1)
  const [table8, protocol, scope, type] = [body.readUInt8(4), body.readUInt8(5), body.readUInt8(6), body.readUInt8(7)]
  const a = decodeAttrs(body, 12)
  const tableAttr = a.get(RTA_TABLE)
  const table = tableAttr && tableAttr.length >= 4 ? tableAttr.readUInt32LE(0) : table8
  const dstRaw = a.get(RTA_DST)
  const hostLen = family === AF_INET6 ? 128 : 32
  const dst = dstRaw ? (dstLen === hostLen ? formatIpBytes(dstRaw) : `${formatIpBytes(dstRaw)}/${dstLen}`) : dstLen ? `0/${dstLen}` : 'default'
  const gw = a.get(RTA_GATEWAY)
  const oif = a.get(RTA_OIF)
  const metric = a.get(RTA_PRIORITY)
  const dev = oif && oif.length >= 4 ? names.get(oif.readUInt32LE(0)) : undefined
  return {
    dst,
    ...(gw ? { gateway: formatIpBytes(gw) } : {}),
    ...(dev !== undefined ? { dev } : {}),
    ...(type !== RTN_UNICAST ? { type: ROUTE_TYPES[type] ?? String(type) } : {}),
    ...(table !== RT_TABLE_MAIN ? { table: ROUTE_TABLES[table] ?? String(table) } : {}),
    ...(metric && metric.length >= 4 ? { metric: metric.readUInt32LE(0) } : {}),
    ...(scope !== RT_SCOPE_UNIVERSE ? { scope: SCOPES[scope] ?? String(scope) } : {}),
    ...(protocol !== RTPROT_BOOT ? { protocol: ROUTE_PROTOCOLS[protocol] ?? String(protocol) } : {}),
  }
}

/** 4 or 16 bytes as text (IPv6 compressed as iproute2 prints it). */
export function formatIpBytes(b: Buffer): string {
  if (b.length === 4) return [...b].join('.')
  const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2))
  let best = { at: -1, len: 0 }
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i }
    i = j
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':')
  return best.at === -1 ? hex(words) : `${hex(words.slice(0, best.at))}::${hex(words.slice(best.at + best.len))}`
}
