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
  readonly subnet6?: string
  readonly publicIpv6?: string
  readonly route6?: string
  /** The kernel has the route (both routes, dual-stack) right now. */
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
  const has = (dst: string, route: string) => ours.some((r) => r.dst === dst && route.startsWith(`via ${r.gateway} dev ${r.dev}`))
  const peers = state.peers.map((p) => ({ ...p, installed: has(p.subnet, p.route) && (p.subnet6 === undefined || has(p.subnet6, p.route6 ?? '')) }))
  const strayRoutes = ours.filter((r) => !state.peers.some((p) => p.subnet === r.dst || p.subnet6 === r.dst)).map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`)
  const v6 = { ...(state.subnet6 ? { subnet6: state.subnet6 } : {}), ...(state.network6 ? { network6: state.network6 } : {}), ...(state.publicIpv6 ? { publicIpv6: state.publicIpv6 } : {}) }
  return {
    subnet: state.subnet, publicIp: state.publicIp, network: state.network, ...v6, backend: state.backend, mtu: state.mtu, uplink: state.uplink,
    ...(state.leaseId ? { leaseId: state.leaseId } : {}), firewall: state.firewall, cniConfFile: state.cniConfFile, updated: state.updated,
    peers, strayRoutes, warnings: state.warnings,
  }
}

/** The report for people. */
export function renderStatus(s: NodeStatus): string {
  const lines = [
    `node ${s.publicIp} on ${s.uplink}: subnet ${s.subnet} of ${s.network}, ${s.backend}, pod MTU ${s.mtu}, masquerade by ${s.firewall}`,
    ...(s.subnet6 ? [`  IPv6: subnet ${s.subnet6} of ${s.network6 ?? '?'}${s.publicIpv6 ? `, PublicIPv6 ${s.publicIpv6}` : ''}`] : []),
    `  lease: ${s.leaseId ?? 'static (no etcd)'}; CNI config ${s.cniConfFile}; last reconcile ${s.updated}`,
    s.peers.length === 0 ? '  peers: none' : `  peers (${s.peers.length}):`,
    ...s.peers.map((p) => `    ${p.subnet.padEnd(18)} at ${p.publicIp.padEnd(15)} ${p.route}${p.vtepMac ? ` (VTEP ${p.vtepMac})` : ''}${p.installed ? '' : '  MISSING in the kernel'}${p.subnet6 ? `\n      ${p.subnet6} ${p.route6 ?? 'none'}` : ''}`),
    ...s.strayRoutes.map((r) => `  stray tagged route (removed at the next reconcile): ${r}`),
    ...s.warnings.map((w) => `  warning: ${w}`),
  ]
  return `${lines.join('\n')}\n`
}
