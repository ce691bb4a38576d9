// The System port that roles depend on, and its real implementation. The only barrel file in src/.
import { createConntrack, type Conntrack } from './conntrack.ts'
import { createDnsmasq, type Dnsmasq } from './dnsmasq.ts'
import { createExec, type Exec, type RunTiming } from './exec.ts'
import { createIp, type IpTool } from './ip.ts'
import { createNetlinkIp } from './netlink.ts'
import { createLocker, type Locker } from './lock.ts'
import type { Native } from './native.ts'
import { createNetns, type Netns } from './netns.ts'
import { createNetfilter, type Netfilter } from './netfilter.ts'
import { createSysctl, type Sysctl } from './sysctl.ts'
import { createTc, type Tc } from './tc.ts'

export type { Conntrack } from './conntrack.ts'
export type { Dnsmasq } from './dnsmasq.ts'
export type { Exec, RunOptions, RunResult } from './exec.ts'
export type { HeldLock, Locker } from './lock.ts'
export type { Netns, NetnsState } from './netns.ts'
export type { Netfilter, NetfilterFamily } from './netfilter.ts'
export type { BatchOptions, FdbOp, IpFailure, IpOp, IpTool, RouteSpec, TaggedRoute, VethEnd, VlanOp, VxlanSpec } from './ip.ts'
export type { FdbRecord, IpAddrInfo, IpLink, IpNeighbour, IpRoute } from './ip-json.ts'
export type { Sysctl, SysctlWrite } from './sysctl.ts'
export type { Tc, TcOp, TcQdisc, TokenBucket } from './tc.ts'
export type { Native, NativeLoad, NativeSource } from './native.ts'
export { loadNative } from './native.ts'
export { SystemError } from './errors.ts'

/** Everything that touches the host, grouped by tool. Roles receive it in their Context; tests pass fakes. */
export interface System {
  readonly exec: Exec
  readonly netns: Netns
  readonly locker: Locker
  readonly conntrack: Conntrack
  /** The per-network DNS servers (dnsmasq processes). */
  readonly dnsmasq: Dnsmasq
  readonly netfilter: Netfilter
  /** iproute2: batches per namespace and `ip -j` reads. */
  readonly ip: IpTool
  /** Host sysctls and link attributes (container sysctls go with an ip batch). */
  readonly sysctl: Sysctl
  /** Traffic control: qdiscs and filters of host devices (`tc -batch`). */
  readonly tc: Tc
}

/** Options for the real System. */
export interface SystemOptions extends RunTiming {
  /** PATH used to find ip, nsenter, iptables, nft, flock. */
  readonly pathEnv: string
  /** The native addon, loaded on first use; undefined when it cannot be (the tools are used instead). */
  readonly native?: () => Native | undefined
  /**
   * Links, addresses, routes and container sysctls through rtnetlink in-process (needs the addon) instead of ip
   * and nsenter. main turns it on unless TSCNI_NETLINK=0; without the addon the tools are used all the same.
   */
  readonly netlink?: boolean
}

/** Builds the real System. */
export function createSystem(options: SystemOptions): System {
  const exec = createExec(options.pathEnv, options.onRun, options.now)
  return {
    exec,
    netns: createNetns(),
    locker: createLocker(exec, options.native),
    conntrack: createConntrack(exec, options.netlink ? options.native : undefined, options),
    dnsmasq: createDnsmasq(exec),
    netfilter: createNetfilter(exec),
    ip: options.netlink && options.native ? lazyNetlinkIp(options.native, createIp(exec), options) : createIp(exec),
    sysctl: createSysctl(),
    tc: createTc(exec),
  }
}

// The addon is loaded at the first call that needs it; without it every call goes to iproute2.
function lazyNetlinkIp(native: () => Native | undefined, tools: IpTool, timing: RunTiming): IpTool {
  let chosen: IpTool | undefined
  const pick = (): IpTool => (chosen ??= ((n) => (n ? createNetlinkIp(n, tools, timing) : tools))(native()))
  return {
    batch: (ops, options) => pick().batch(ops, options),
    vlans: (ops) => tools.vlans(ops),
    fdb: (ops) => tools.fdb(ops),
    neighbours: (dev) => tools.neighbours(dev),
    fdbEntries: (dev) => tools.fdbEntries(dev),
    links: (options) => pick().links(options),
    batchThenShow: (ops, dev, options) => pick().batchThenShow(ops, dev, options),
    inspect: (dev, netns, keys) => pick().inspect(dev, netns, keys),
    routes: (options) => pick().routes(options),
    routeDev: (address, hint) => tools.routeDev(address, hint),
    failure: (err) => pick().failure(err),
  }
}
