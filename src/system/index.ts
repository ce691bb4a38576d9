// The System port that roles depend on, and its real implementation. The only barrel file in src/.
import { createConntrack, type Conntrack } from './conntrack.ts'
import { createDnsmasq, type Dnsmasq } from './dnsmasq.ts'
import { createExec, type Exec } from './exec.ts'
import { createIp, type IpTool } from './ip.ts'
import { createLocker, type Locker } from './lock.ts'
import { createNetns, type Netns } from './netns.ts'
import { createNetfilter, type Netfilter } from './netfilter.ts'
import { createSysctl, type Sysctl } from './sysctl.ts'

export type { Conntrack } from './conntrack.ts'
export type { Dnsmasq } from './dnsmasq.ts'
export type { Exec, RunOptions, RunResult } from './exec.ts'
export type { HeldLock, Locker } from './lock.ts'
export type { Netns, NetnsState } from './netns.ts'
export type { Netfilter, NetfilterFamily } from './netfilter.ts'
export type { BatchOptions, FdbOp, IpFailure, IpOp, IpTool, RouteSpec, TaggedRoute, VethEnd, VlanOp, VxlanSpec } from './ip.ts'
export type { FdbRecord, IpAddrInfo, IpLink, IpNeighbour, IpRoute } from './ip-json.ts'
export type { Sysctl, SysctlWrite } from './sysctl.ts'
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
}

/** Options for the real System. */
export interface SystemOptions {
  /** PATH used to find ip, nsenter, iptables, nft, flock. */
  readonly pathEnv: string
  /** Called after every command with its duration, for debug logs. */
  readonly onRun?: (cmd: string, args: readonly string[], ms: number) => void
}

/** Builds the real System. */
export function createSystem(options: SystemOptions): System {
  const exec = createExec(options.pathEnv, options.onRun)
  return {
    exec,
    netns: createNetns(),
    locker: createLocker(exec),
    conntrack: createConntrack(exec),
    dnsmasq: createDnsmasq(exec),
    netfilter: createNetfilter(exec),
    ip: createIp(exec),
    sysctl: createSysctl(),
  }
}
