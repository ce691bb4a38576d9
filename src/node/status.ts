// `tscni node status`: this node's lease and every peer as programmed (from the state file), checked against
// the routes the kernel holds now. The report is pure; cli.ts gathers the facts.
import type { IpRoute } from '../system/index.ts'
import type { NodeState } from './local-files.ts'
import { isOurRoute } from './reconcile.ts'

/** One peer's line of the report. */
export interface PeerStatus {
  readonly subnet: string
  readonly publicIp: string
  readonly vtepMac?: string
  readonly route: string
  /** The kernel has the route right now. */
  readonly installed: boolean
}

/** The whole report (also the `--json` output): the state file's facts, each peer checked against the kernel. */
export type NodeStatus = Omit<NodeState, 'peers'> & {
  readonly peers: readonly PeerStatus[]
  /** Tagged routes in the kernel for no known peer (a reconcile removes them). */
  readonly strayRoutes: readonly string[]
}

/** Joins the state file with the kernel's routes. */
export function nodeStatus(state: NodeState, routes: readonly IpRoute[]): NodeStatus {
  const ours = routes.filter(isOurRoute)
  const peers = state.peers.map((p) => ({ ...p, installed: ours.some((r) => r.dst === p.subnet && p.route.startsWith(`via ${r.gateway} dev ${r.dev}`)) }))
  const strayRoutes = ours.filter((r) => !state.peers.some((p) => p.subnet === r.dst)).map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`)
  return {
    subnet: state.subnet, publicIp: state.publicIp, network: state.network, backend: state.backend, mtu: state.mtu, uplink: state.uplink,
    ...(state.leaseId ? { leaseId: state.leaseId } : {}), firewall: state.firewall, cniConfFile: state.cniConfFile, updated: state.updated,
    peers, strayRoutes, warnings: state.warnings,
  }
}

/** The report for people. */
export function renderStatus(s: NodeStatus): string {
  const lines = [
    `node ${s.publicIp} on ${s.uplink}: subnet ${s.subnet} of ${s.network}, ${s.backend}, pod MTU ${s.mtu}, masquerade by ${s.firewall}`,
    `  lease: ${s.leaseId ?? 'static (no etcd)'}; CNI config ${s.cniConfFile}; last reconcile ${s.updated}`,
    s.peers.length === 0 ? '  peers: none' : `  peers (${s.peers.length}):`,
    ...s.peers.map((p) => `    ${p.subnet.padEnd(18)} at ${p.publicIp.padEnd(15)} ${p.route}${p.vtepMac ? ` (VTEP ${p.vtepMac})` : ''}${p.installed ? '' : '  MISSING in the kernel'}`),
    ...s.strayRoutes.map((r) => `  stray tagged route (removed at the next reconcile): ${r}`),
    ...s.warnings.map((w) => `  warning: ${w}`),
  ]
  return `${lines.join('\n')}\n`
}
