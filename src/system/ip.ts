// iproute2: pure builders for `ip -batch` / `bridge -batch` lines (exported for tests) and the calls that run
// them, one process per namespace per batch, inside a container namespace through nsenter.
import { readFileSync } from 'node:fs'
import type { Exec } from './exec.ts'
import { SystemError } from './errors.ts'
import { parseFdb, parseLinks, parseNeighbours, parseRouteGetDev, parseRoutes, type FdbRecord, type IpLink, type IpNeighbour, type IpRoute } from './ip-json.ts'
import { longestMatchDev, parseProcRoute } from './proc-route.ts'
import { sysctlReadScript, sysctlScript, type SysctlWrite } from './sysctl.ts'

/** `link add ... type bridge`. The MAC is given at creation so it is pinned from the start (containernetworking/cni#285: it would
 * follow the lowest port MAC). */
export function bridgeAddLine(o: { name: string; mac?: string; mtu?: number; vlanFiltering?: boolean }): string {
  return join('link add name', o.name, o.mac && `address ${o.mac}`, o.mtu && `mtu ${o.mtu}`, 'type bridge', o.vlanFiltering && 'vlan_filtering 1')
}

/** `link set dev ...` with the given changes, in an order iproute2 applies in one request (`up: false` is down). */
export function linkSetLine(name: string, o: { master?: string; address?: string; mtu?: number; promisc?: boolean; allmulti?: boolean; txqlen?: number; up?: boolean }): string {
  const state = o.up === undefined ? undefined : o.up ? 'up' : 'down'
  const flag = (key: string, v: boolean | undefined) => v === undefined ? undefined : `${key} ${v ? 'on' : 'off'}`
  return join('link set dev', name, o.master && `master ${o.master}`, o.address && `address ${o.address}`, o.mtu && `mtu ${o.mtu}`, flag('promisc', o.promisc),
    flag('allmulticast', o.allmulti), o.txqlen !== undefined && `txqueuelen ${o.txqlen}`, state)
}

/** A VXLAN device that does not learn (its FDB entries are programmed): vxlan(4) in ip-link(8). */
export interface VxlanSpec {
  readonly name: string
  readonly vni: number
  readonly local: string
  readonly dev: string
  readonly port: number
}

/** `link add <name> type vxlan id <vni> local <ip> dev <uplink> dstport <port> nolearning`. */
export function vxlanAddLine(o: VxlanSpec): string {
  return `link add name ${o.name} type vxlan id ${o.vni} local ${o.local} dev ${o.dev} dstport ${o.port} nolearning`
}

/** A route the node agent owns: replaced in place, tagged with its `proto`, `onlink` for a tunnel's next hop. */
export interface TaggedRoute {
  readonly dst: string
  readonly gw?: string
  readonly dev?: string
  readonly onlink?: boolean
  readonly proto: number
}

/** `route replace|del <dst> [via <gw>] [dev <dev>] [onlink] proto <n>`. */
export function taggedRouteLine(verb: 'replace' | 'del', r: TaggedRoute): string {
  return join(`route ${verb}`, r.dst, r.gw && `via ${r.gw}`, r.dev && `dev ${r.dev}`, verb === 'replace' && r.onlink && 'onlink', `proto ${r.proto}`)
}

/** `neigh replace <ip> lladdr <mac> dev <dev> nud permanent` / `neigh del <ip> dev <dev>`. */
export function neighLine(verb: 'replace' | 'del', o: { ip: string; mac?: string; dev: string }): string {
  return verb === 'replace' ? `neigh replace ${o.ip} lladdr ${o.mac} dev ${o.dev} nud permanent` : `neigh del ${o.ip} dev ${o.dev}`
}

/** One VXLAN forwarding-database change in a `bridge -batch`. */
export type FdbOp = { readonly op: 'fdb-replace' | 'fdb-del'; readonly mac: string; readonly dev: string; readonly dst: string }

/** `fdb replace|del <mac> dev <dev> dst <ip> self [permanent]` (bridge(8) batch syntax). */
export function renderFdbOp(o: FdbOp): string {
  return o.op === 'fdb-replace' ? `fdb replace ${o.mac} dev ${o.dev} dst ${o.dst} self permanent` : `fdb del ${o.mac} dev ${o.dev} dst ${o.dst} self`
}

/** One end of a veth pair. */
export interface VethEnd {
  readonly name: string
  readonly mac?: string
  readonly mtu?: number
  /** A namespace path (iproute2 opens it as a file because it contains '/'). */
  readonly netns?: string
}

/** `link add <a> ... type veth peer name <b> ...`: both ends named, each optionally placed in a namespace. */
export function vethAddLine(a: VethEnd, b: VethEnd): string {
  const end = (e: VethEnd) => [e.mac && `address ${e.mac}`, e.mtu && `mtu ${e.mtu}`, e.netns && `netns ${e.netns}`]
  return join('link add name', a.name, ...end(a), 'type veth peer name', b.name, ...end(b))
}

/** Bridge-port flags on a port (`ip link set ... type bridge_slave`). Undefined flags are left unchanged. */
export function bridgePortLine(name: string, o: { hairpin?: boolean; isolated?: boolean }): string {
  const flag = (key: string, v: boolean | undefined) => v === undefined ? undefined : `${key} ${v ? 'on' : 'off'}`
  return join('link set dev', name, 'type bridge_slave', flag('hairpin', o.hairpin), flag('isolated', o.isolated))
}

/** `addr add <cidr> dev <dev> [nodad]` (`nodad`: IPv6 only, usable at once instead of tentative for ~2 s). */
export function addrAddLine(cidr: string, dev: string, nodad = false): string {
  return `addr add ${cidr} dev ${dev}${nodad ? ' nodad' : ''}`
}

/** `addr del <cidr> dev <dev>`. */
export function addrDelLine(cidr: string, dev: string): string {
  return `addr del ${cidr} dev ${dev}`
}

/** A route to install. `dst` is a prefix ("0.0.0.0/0", not "default", so the family is never ambiguous). */
export interface RouteSpec {
  readonly dst: string
  readonly gw?: string
  readonly dev: string
  readonly metric?: number
  readonly table?: number
  readonly scope?: number
}

/**
 * `route prepend`: NLM_F_CREATE without NLM_F_EXCL, as the reference's RouteAddEcmp, so a second gateway for one
 * destination is accepted; an identical duplicate still fails, which is why plans de-duplicate routes.
 */
export function routeAddLine(r: RouteSpec): string {
  return join('route prepend', r.dst, r.gw && `via ${r.gw}`, `dev ${r.dev}`, r.metric !== undefined && `metric ${r.metric}`,
    r.table !== undefined && `table ${r.table}`, r.scope !== undefined && `scope ${r.scope}`)
}

/** `link del dev <name>`. */
export function linkDelLine(name: string): string {
  return `link del dev ${name}`
}

/** `bridge vlan del` of one VLAN on a port (bridge(8) batch syntax). */
export function vlanDelLine(dev: string, vid: number): string {
  return `vlan del dev ${dev} vid ${vid} master`
}

/** `bridge vlan add` of one VLAN on a port; `native` makes it the PVID, untagged (an access port). */
export function vlanAddLine(dev: string, vid: number, native = false): string {
  return join('vlan add dev', dev, `vid ${vid}`, native && 'pvid untagged', 'master')
}

function join(...parts: Array<string | number | false | undefined>): string {
  return parts.filter((p) => p !== undefined && p !== false && p !== 0 && p !== '').join(' ')
}

/** The 1-based batch line iproute2 reported as failed ("Command failed -:N"), if any. */
export function failedBatchLine(err: unknown): number | undefined {
  if (!(err instanceof SystemError)) return undefined
  const m = /Command failed -:(\d+)/.exec(err.stderr)
  return m ? Number(m[1]) : undefined
}

/** True when a failed command said the object already exists (EEXIST from the kernel). */
export function isExists(err: unknown): boolean {
  return err instanceof SystemError && err.reason === 'exists'
}

/** True when a failed command said the device is not there. */
export function isNoDevice(err: unknown): boolean {
  return err instanceof SystemError && err.reason === 'no-device'
}

/** One change in an `ip -batch`: a plain value, so roles plan without importing system code. */
export type IpOp =
  | ({ readonly op: 'bridge-add'; readonly name: string; readonly mac?: string; readonly mtu?: number; readonly vlanFiltering?: boolean })
  | ({ readonly op: 'link-set'; readonly name: string; readonly master?: string; readonly address?: string; readonly mtu?: number; readonly promisc?: boolean; readonly allmulti?: boolean; readonly txqlen?: number; readonly up?: boolean })
  | ({ readonly op: 'vxlan-add' } & VxlanSpec)
  | { readonly op: 'route-replace' | 'route-del'; readonly route: TaggedRoute }
  | { readonly op: 'neigh-replace' | 'neigh-del'; readonly ip: string; readonly mac?: string; readonly dev: string }
  | { readonly op: 'veth-add'; readonly a: VethEnd; readonly b: VethEnd }
  | { readonly op: 'port-flags'; readonly name: string; readonly hairpin?: boolean; readonly isolated?: boolean }
  | { readonly op: 'addr-add' | 'addr-del'; readonly cidr: string; readonly dev: string; readonly nodad?: boolean }
  | { readonly op: 'route-add'; readonly route: RouteSpec }
  | { readonly op: 'link-del'; readonly name: string }

/** One change in a `bridge -batch` (VLAN membership of a bridge port). */
export type VlanOp = { readonly op: 'vlan-add'; readonly dev: string; readonly vid: number; readonly native?: boolean } | { readonly op: 'vlan-del'; readonly dev: string; readonly vid: number }

/** The batch line of one op. */
export function renderIpOp(o: IpOp): string {
  switch (o.op) {
    case 'bridge-add': return bridgeAddLine(o)
    case 'link-set': return linkSetLine(o.name, o)
    case 'veth-add': return vethAddLine(o.a, o.b)
    case 'port-flags': return bridgePortLine(o.name, o)
    case 'addr-add': return addrAddLine(o.cidr, o.dev, o.nodad)
    case 'addr-del': return addrDelLine(o.cidr, o.dev)
    case 'route-add': return routeAddLine(o.route)
    case 'link-del': return linkDelLine(o.name)
    case 'vxlan-add': return vxlanAddLine(o)
    case 'route-replace': return taggedRouteLine('replace', o.route)
    case 'route-del': return taggedRouteLine('del', o.route)
    case 'neigh-replace': return neighLine('replace', o)
    case 'neigh-del': return neighLine('del', o)
    default: {
      const never: never = o
      throw new Error(`unknown ip op ${JSON.stringify(never)}`)
    }
  }
}

/** The bridge(8) batch line of one VLAN op. */
export function renderVlanOp(o: VlanOp): string {
  return o.op === 'vlan-add' ? vlanAddLine(o.dev, o.vid, o.native) : vlanDelLine(o.dev, o.vid)
}

/** What a failed batch or command said, in terms a role can act on. */
export interface IpFailure {
  /** 0-based index of the op that failed, when iproute2 reported it. */
  readonly index?: number
  /** The kernel said EEXIST. */
  readonly exists: boolean
  /** The device was not there. */
  readonly noDevice: boolean
}

/** Options for a batch. */
export interface BatchOptions {
  /** Run inside this namespace (nsenter). */
  readonly netns?: string
  /** Sysctl writes to do first in the same process (a container namespace's sysctls are only reachable there). */
  readonly sysctls?: readonly SysctlWrite[]
  /** `-force`: run every line even after one fails (a reconcile applies what it can); fails at the end if any did. */
  readonly force?: boolean
}

/** The iproute2 port. */
export interface IpTool {
  /** Runs the ops with one `ip -batch -`; stops at the first failing op (see `failure`). */
  batch(ops: readonly IpOp[], options?: BatchOptions): Promise<void>
  /** Runs the ops with one `bridge -batch -` in this namespace. */
  vlans(ops: readonly VlanOp[]): Promise<void>
  /** Runs the FDB ops with one `bridge -force -batch -` in this namespace. */
  fdb(ops: readonly FdbOp[]): Promise<void>
  /** `ip -j neigh show dev <dev>`; empty when the device does not exist. */
  neighbours(dev: string): Promise<IpNeighbour[]>
  /** `bridge -j fdb show dev <dev>`; empty when the device does not exist. */
  fdbEntries(dev: string): Promise<FdbRecord[]>
  /** `ip -j -d addr show [dev <dev>]`; an empty list when the named device does not exist. */
  links(options?: { dev?: string; netns?: string }): Promise<IpLink[]>
  /**
   * Runs the ops, then shows `dev` with its addresses, in one `ip -j -d -batch -` (one process): the link as the
   * ops left it. Throws like `batch` when an op fails.
   */
  batchThenShow(ops: readonly IpOp[], dev: string, options?: { netns?: string }): Promise<IpLink[]>
  /**
   * `ip -j -d addr show dev <dev>` inside a namespace plus sysctls (slash-form keys) as that namespace sees them,
   * read by the same process: a namespace's /proc/sys/net is only visible from inside it. A key that does not
   * exist reads as undefined; a missing device gives an empty list.
   */
  inspect(dev: string, netns: string, sysctlKeys: readonly string[]): Promise<{ links: IpLink[]; sysctls: Array<string | undefined> }>
  /** `ip -j route show table all` (both families). */
  routes(options?: { netns?: string }): Promise<IpRoute[]>
  /**
   * The device the kernel would send to IPv4 `address` on; undefined when unreachable. With `hint` (the host device
   * a result names), /proc/net/route is read first and the hint taken, without a process, when the main table's
   * longest match is that device; otherwise, and without a hint, `ip -j route get` decides.
   */
  routeDev(address: string, hint?: string): Promise<string | undefined>
  /** Classifies an error thrown by this tool. */
  failure(err: unknown): IpFailure
}

/** The real iproute2 calls. */
export function createIp(exec: Exec): IpTool {
  return {
    async batch(ops, options = {}) {
      if (ops.length === 0 && !options.sysctls?.length) return
      const input = `${ops.map(renderIpOp).join('\n')}\n`
      if (options.sysctls?.length) {
        const { script, args } = sysctlScript(options.sysctls)
        await exec.run('sh', ['-c', `${script}\nexec ip -batch -`, 'sh', ...args], { netns: options.netns, input })
        return
      }
      await exec.run('ip', [...(options.force ? ['-force'] : []), '-batch', '-'], { netns: options.netns, input })
    },
    async fdb(ops) {
      if (ops.length === 0) return
      await exec.run('bridge', ['-force', '-batch', '-'], { input: `${ops.map(renderFdbOp).join('\n')}\n` })
    },
    async neighbours(dev) {
      const args = ['-j', 'neigh', 'show', 'dev', dev]
      const res = await exec.run('ip', args, { allowFailure: true })
      if (res.exitCode === 0) return parseNeighbours(res.stdout)
      const err = new SystemError({ cmd: 'ip', args, exitCode: res.exitCode, stderr: res.stderr })
      if (isNoDevice(err)) return []
      throw err
    },
    async fdbEntries(dev) {
      const args = ['-j', 'fdb', 'show', 'dev', dev]
      const res = await exec.run('bridge', args, { allowFailure: true })
      if (res.exitCode === 0) return parseFdb(res.stdout)
      const err = new SystemError({ cmd: 'bridge', args, exitCode: res.exitCode, stderr: res.stderr })
      if (isNoDevice(err)) return []
      throw err
    },
    async vlans(ops) {
      if (ops.length === 0) return
      await exec.run('bridge', ['-batch', '-'], { input: `${ops.map(renderVlanOp).join('\n')}\n` })
    },
    async links(options = {}) {
      const args = ['-j', '-d', 'addr', 'show', ...(options.dev ? ['dev', options.dev] : [])]
      const res = await exec.run('ip', args, { netns: options.netns, allowFailure: true })
      if (res.exitCode === 0) return parseLinks(res.stdout)
      const err = new SystemError({ cmd: 'ip', args, exitCode: res.exitCode, stderr: res.stderr })
      if (options.dev && isNoDevice(err)) return []
      throw err
    },
    async batchThenShow(ops, dev, options = {}) {
      const input = `${[...ops.map(renderIpOp), `addr show dev ${dev}`].join('\n')}\n`
      const res = await exec.run('ip', ['-j', '-d', '-batch', '-'], { netns: options.netns, input })
      return parseLinks(res.stdout)
    },
    async inspect(dev, netns, sysctlKeys) {
      const { script, args } = sysctlReadScript(sysctlKeys, 2)
      const cmd = `${script}\nexec ip -j -d addr show dev "$1"`
      const res = await exec.run('sh', ['-c', cmd, 'sh', dev, ...args], { netns, allowFailure: true })
      const lines = res.stdout.split('\n')
      const sysctls = lines.slice(0, sysctlKeys.length).map((line) => (line.startsWith('=') ? line.slice(1) : undefined))
      if (res.exitCode === 0) return { links: parseLinks(lines.slice(sysctlKeys.length).join('\n')), sysctls }
      const err = new SystemError({ cmd: 'sh', args: ['-c', cmd], exitCode: res.exitCode, stderr: res.stderr })
      if (isNoDevice(err)) return { links: [], sysctls }
      throw err
    },
    async routes(options = {}) {
      const res = await exec.run('ip', ['-j', 'route', 'show', 'table', 'all'], { netns: options.netns })
      return parseRoutes(res.stdout)
    },
    async routeDev(address, hint) {
      if (hint) {
        try {
          if (longestMatchDev(parseProcRoute(readFileSync('/proc/net/route', 'utf8')), address) === hint) return hint
        } catch {
          // no /proc/net/route here: the tool decides
        }
      }
      const res = await exec.run('ip', ['-j', 'route', 'get', address], { allowFailure: true })
      return res.exitCode === 0 ? parseRouteGetDev(res.stdout) : undefined
    },
    failure(err) {
      const line = failedBatchLine(err)
      return { index: line === undefined ? undefined : line - 1, exists: isExists(err), noDevice: isNoDevice(err) }
    },
  }
}
