// Parsers for `ip -j` output (links with addresses, routes): pure, hand-validated (system/ imports node:* only).
import { SystemError } from './errors.ts'

/** One address of a link (`addr_info` entry). */
export interface IpAddrInfo {
  readonly family: 'inet' | 'inet6'
  readonly local: string
  readonly prefixlen: number
  readonly scope: string
  readonly tentative: boolean
  readonly dadfailed: boolean
}

/** One link as `ip -j -d addr show` / `ip -j -d link show` report it (the fields tscni uses). */
export interface IpLink {
  readonly ifindex: number
  readonly ifname: string
  readonly flags: readonly string[]
  readonly mtu: number
  readonly operstate: string
  readonly address: string
  /** Name of the master (bridge) this link is a port of. */
  readonly master?: string
  /** veth: the peer's ifindex (in the peer's namespace). */
  readonly linkIndex?: number
  readonly promiscuity: number
  /** `linkinfo.info_kind`: "bridge", "veth", ... (only with -d). */
  readonly kind?: string
  /** `linkinfo.info_slave_kind`: "bridge" for a bridge port. */
  readonly slaveKind?: string
  /** Bridge only: `vlan_filtering` is on. */
  readonly vlanFiltering?: boolean
  /** Bridge only: the VLAN new ports get (`vlan_default_pvid`, shown when known). */
  readonly vlanDefaultPvid?: number
  /** Bridge ports only: hairpin and isolated flags. */
  readonly hairpin?: boolean
  readonly isolated?: boolean
  /** VXLAN only (with -d): VNI, local address, lower device, UDP port and whether it learns. */
  readonly vxlan?: { readonly id?: number; readonly local?: string; readonly link?: string; readonly port?: number; readonly learning?: boolean }
  readonly addrs: readonly IpAddrInfo[]
}

/** One route as `ip -j route show table all` reports it. */
export interface IpRoute {
  /** "default" or a prefix; a host route has no "/len". */
  readonly dst: string
  readonly gateway?: string
  readonly dev?: string
  /** "local", "broadcast", ... ; undefined for unicast. */
  readonly type?: string
  /** "local", "main" or a number; undefined means main. */
  readonly table?: string
  readonly metric?: number
  readonly scope?: string
  readonly protocol?: string
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function bad(what: string, why: string): SystemError {
  return new SystemError({ cmd: 'ip', args: ['-j'], message: `unexpected ip -j output (${what}): ${why}` })
}

/** Parses the text of an `ip -j` command into its top-level array (empty output is an empty list). */
export function parseIpJson(text: string, what: string): unknown[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  let value: unknown
  try {
    value = JSON.parse(trimmed)
  } catch (err) {
    throw bad(what, `not JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(value)) throw bad(what, 'not a list')
  return value
}

const str = (o: Json, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined)
const num = (o: Json, key: string): number | undefined => (typeof o[key] === 'number' ? (o[key] as number) : undefined)

/** Parses `ip -j [-d] addr|link show` output into links. */
export function parseLinks(text: string): IpLink[] {
  return parseIpJson(text, 'links').map((item, i) => {
    if (!isObject(item)) throw bad('links', `entry ${i} is not an object`)
    const ifindex = num(item, 'ifindex')
    const ifname = str(item, 'ifname')
    if (ifindex === undefined || ifname === undefined) throw bad('links', `entry ${i} lacks ifindex or ifname`)
    const info = isObject(item.linkinfo) ? item.linkinfo : {}
    const data = isObject(info.info_data) ? info.info_data : {}
    const slave = isObject(info.info_slave_data) ? info.info_slave_data : {}
    return dropUndefined({
      ifindex,
      ifname,
      flags: Array.isArray(item.flags) ? item.flags.filter((f): f is string => typeof f === 'string') : [],
      mtu: num(item, 'mtu') ?? 0,
      operstate: str(item, 'operstate') ?? 'UNKNOWN',
      address: str(item, 'address') ?? '',
      master: str(item, 'master'),
      linkIndex: num(item, 'link_index'),
      promiscuity: num(item, 'promiscuity') ?? 0,
      kind: str(info, 'info_kind'),
      slaveKind: str(info, 'info_slave_kind'),
      vlanFiltering: typeof data.vlan_filtering === 'number' ? data.vlan_filtering === 1 : undefined,
      vlanDefaultPvid: num(data, 'vlan_default_pvid'),
      hairpin: typeof slave.hairpin === 'boolean' ? slave.hairpin : undefined,
      isolated: typeof slave.isolated === 'boolean' ? slave.isolated : undefined,
      vxlan: info.info_kind === 'vxlan' ? dropUndefined({
        id: num(data, 'id'), local: str(data, 'local'), link: str(data, 'link'), port: num(data, 'port'),
        learning: typeof data.learning === 'boolean' ? data.learning : undefined,
      }) : undefined,
      addrs: Array.isArray(item.addr_info) ? item.addr_info.flatMap(parseAddr) : [],
    })
  })
}

function parseAddr(item: unknown): IpAddrInfo[] {
  if (!isObject(item)) return []
  const family = str(item, 'family')
  const local = str(item, 'local')
  const prefixlen = num(item, 'prefixlen')
  if ((family !== 'inet' && family !== 'inet6') || local === undefined || prefixlen === undefined) return []
  return [{ family, local, prefixlen, scope: str(item, 'scope') ?? 'global', tentative: item.tentative === true, dadfailed: item.dadfailed === true }]
}

/** Parses `ip -j route show [table all]` output. */
export function parseRoutes(text: string): IpRoute[] {
  return parseIpJson(text, 'routes').map((item, i) => {
    if (!isObject(item) || typeof item.dst !== 'string') throw bad('routes', `entry ${i} lacks dst`)
    const table = item.table
    return dropUndefined({
      dst: item.dst,
      gateway: str(item, 'gateway'),
      dev: str(item, 'dev'),
      type: str(item, 'type'),
      table: typeof table === 'number' ? String(table) : str(item, 'table'),
      metric: num(item, 'metric'),
      scope: str(item, 'scope'),
      protocol: str(item, 'protocol'),
    })
  })
}

function dropUndefined<T extends object>(o: T): T {
  for (const key of Object.keys(o) as Array<keyof T>) if (o[key] === undefined) delete o[key]
  return o
}

/** The output device of `ip -j route get <addr>`; undefined when the reply names none. */
export function parseRouteGetDev(text: string): string | undefined {
  const [first] = parseIpJson(text, 'route get')
  return isObject(first) && typeof first.dev === 'string' ? first.dev : undefined
}

/** One neighbour entry as `ip -j neigh show dev <dev>` reports it. */
export interface IpNeighbour {
  readonly dst: string
  readonly lladdr?: string
  readonly state: readonly string[]
}

/** Parses `ip -j neigh show` output. */
export function parseNeighbours(text: string): IpNeighbour[] {
  return parseIpJson(text, 'neighbours').flatMap((item) => {
    if (!isObject(item) || typeof item.dst !== 'string') return []
    const state = Array.isArray(item.state) ? item.state.filter((x): x is string => typeof x === 'string') : []
    return [dropUndefined({ dst: item.dst, lladdr: str(item, 'lladdr'), state })]
  })
}

/** One forwarding-database entry as `bridge -j fdb show dev <dev>` reports it. */
export interface FdbRecord {
  readonly mac: string
  /** The remote address of a VXLAN entry. */
  readonly dst?: string
  readonly state?: string
}

/** Parses `bridge -j fdb show` output. */
export function parseFdb(text: string): FdbRecord[] {
  return parseIpJson(text, 'fdb').flatMap((item) => {
    if (!isObject(item) || typeof item.mac !== 'string') return []
    return [dropUndefined({ mac: item.mac, dst: str(item, 'dst'), state: str(item, 'state') })]
  })
}
