// Parsers for `ip -j` output (links with addresses, routes): pure.
import * as z from 'zod/mini'
import { decodeOrThrow, decodeWith, lazily, parseJson } from '../decode/go-json.ts'
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
  /** The transmit queue length (`txqlen`), when reported. */
  readonly txqlen?: number
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

// `ip -j` output is decoded with the same mechanism as every other input (src/decode/go-json.ts): one schema per
// object kind, the fields tscni uses, unknown ones ignored.
const schemas = lazily(() => {
  const optText = z.optional(z.string())
  const optNum = z.optional(z.number())
  const addrSchema = z.object({ family: optText, local: optText, prefixlen: optNum, scope: optText, tentative: z.optional(z.boolean()), dadfailed: z.optional(z.boolean()) })
  const linkSchema = z.object({
    ifindex: z.number('lacks ifindex'),
    ifname: z.string('lacks ifname'),
    flags: z.optional(z.array(z.unknown())),
    mtu: optNum,
    operstate: optText,
    address: optText,
    master: optText,
    link_index: optNum,
    promiscuity: optNum,
    txqlen: optNum,
    linkinfo: z.optional(z.object({
      info_kind: optText,
      info_slave_kind: optText,
      info_data: z.optional(z.object({ vlan_filtering: optNum, vlan_default_pvid: optNum, id: optNum, local: optText, link: optText, port: optNum, learning: z.optional(z.boolean()) })),
      info_slave_data: z.optional(z.object({ hairpin: z.optional(z.boolean()), isolated: z.optional(z.boolean()) })),
    })),
    addr_info: z.optional(z.array(z.unknown())),
  })
  const routeSchema = z.object({
    dst: z.string('lacks dst'),
    gateway: optText,
    dev: optText,
    type: optText,
    table: z.optional(z.union([z.string(), z.number()])),
    metric: optNum,
    scope: optText,
    protocol: optText,
  })
  const routeGetSchema = z.object({ dev: optText })
  const neighbourSchema = z.object({ dst: z.string('lacks dst'), lladdr: optText, state: z.optional(z.array(z.unknown())) })
  const fdbSchema = z.object({ mac: z.string('lacks mac'), dst: optText, state: optText })
  return { addrSchema, linkSchema, routeSchema, routeGetSchema, neighbourSchema, fdbSchema }
})

function bad(what: string, why: string): SystemError {
  return new SystemError({ cmd: 'ip', args: ['-j'], message: `unexpected ip -j output (${what}): ${why}` })
}

/** Parses the text of an `ip -j` command into its top-level array (empty output is an empty list). */
export function parseIpJson(text: string, what: string): unknown[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  let value: unknown
  try {
    value = parseJson(trimmed)
  } catch (err) {
    throw bad(what, `not JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(value)) throw bad(what, 'not a list')
  return value
}

function entry<S extends z.ZodMiniType>(schema: S, item: unknown, what: string, i: number): z.output<S> {
  return decodeOrThrow(schema, item, `entry ${i}`, (text) => bad(what, text))
}

/** Parses `ip -j [-d] addr|link show` output into links. */
export function parseLinks(text: string): IpLink[] {
  return parseIpJson(text, 'links').map((item, i) => {
    const link = entry(schemas().linkSchema, item, 'links', i)
    const info = link.linkinfo ?? {}
    const filtering = info.info_data?.vlan_filtering
    return dropUndefined({
      ifindex: link.ifindex,
      ifname: link.ifname,
      flags: (link.flags ?? []).filter((f): f is string => typeof f === 'string'),
      mtu: link.mtu ?? 0,
      operstate: link.operstate ?? 'UNKNOWN',
      address: link.address ?? '',
      master: link.master,
      linkIndex: link.link_index,
      promiscuity: link.promiscuity ?? 0,
      txqlen: link.txqlen,
      kind: info.info_kind,
      slaveKind: info.info_slave_kind,
      vlanFiltering: filtering === undefined ? undefined : filtering === 1,
      vlanDefaultPvid: info.info_data?.vlan_default_pvid,
      hairpin: info.info_slave_data?.hairpin,
      isolated: info.info_slave_data?.isolated,
      vxlan: info.info_kind === 'vxlan' && info.info_data ? dropUndefined({
        id: info.info_data.id, local: info.info_data.local, link: info.info_data.link, port: info.info_data.port, learning: info.info_data.learning,
      }) : undefined,
      addrs: (link.addr_info ?? []).flatMap(parseAddr),
    })
  })
}

// An address entry tscni cannot use (another family, no local address) is skipped, not an error.
function parseAddr(item: unknown): IpAddrInfo[] {
  const decoded = decodeWith(schemas().addrSchema, item)
  if (!decoded.ok) return []
  const { family, local, prefixlen, scope, tentative, dadfailed } = decoded.data
  if ((family !== 'inet' && family !== 'inet6') || local === undefined || prefixlen === undefined) return []
  return [{ family, local, prefixlen, scope: scope ?? 'global', tentative: tentative === true, dadfailed: dadfailed === true }]
}

/** Parses `ip -j route show [table all]` output. */
export function parseRoutes(text: string): IpRoute[] {
  return parseIpJson(text, 'routes').map((item, i) => {
    const route = entry(schemas().routeSchema, item, 'routes', i)
    return dropUndefined({ ...route, table: route.table === undefined ? undefined : String(route.table) })
  })
}

function dropUndefined<T extends object>(o: T): T {
  for (const key of Object.keys(o) as Array<keyof T>) if (o[key] === undefined) delete o[key]
  return o
}

/** The output device of `ip -j route get <addr>`; undefined when the reply names none. */
export function parseRouteGetDev(text: string): string | undefined {
  const [first] = parseIpJson(text, 'route get')
  const decoded = decodeWith(schemas().routeGetSchema, first)
  return decoded.ok ? decoded.data.dev : undefined
}

/** One neighbour entry as `ip -j neigh show dev <dev>` reports it. */
export interface IpNeighbour {
  readonly dst: string
  readonly lladdr?: string
  readonly state: readonly string[]
}

/** Parses `ip -j neigh show` output. */
export function parseNeighbours(text: string): IpNeighbour[] {
  return parseIpJson(text, 'neighbours').map((item, i) => {
    const n = entry(schemas().neighbourSchema, item, 'neighbours', i)
    return dropUndefined({ dst: n.dst, lladdr: n.lladdr, state: (n.state ?? []).filter((x): x is string => typeof x === 'string') })
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
  return parseIpJson(text, 'fdb').map((item, i) => {
    const f = entry(schemas().fdbSchema, item, 'fdb', i)
    return dropUndefined({ mac: f.mac, dst: f.dst, state: f.state })
  })
}
