// The steps both modes (etcd and static) share: publish the node's network locally (CNI config, firewall), and
// one reconcile pass (plan, apply, record what was programmed in the state file).
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import type { ClusterConfig } from './cluster-config.ts'
import type { NodeFirewallBackend } from './firewall-rules.ts'
import { applyDataPlane, applyFirewall, ensureForwarding, type FirewallScopes } from './kernel.ts'
import type { Lease } from './lease-model.ts'
import { cniConfPath, renderConflist, writeAtomic, writeState, type ProgrammedPeer } from './local-files.ts'
import type { NodeOptions } from './options.ts'
import { readyFileOf } from './ready-path.ts'
import { gatewayOf, planDataPlane, subnetsOf, VXLAN_OVERHEAD, type NodeRoute, type Uplink } from './plan.ts'
import { poolsOf, subnetText } from './subnets.ts'

/** The firewall's scope per family: each pool's network with this node's subnet of that family. */
export function firewallScopes(config: ClusterConfig, self: Lease): FirewallScopes {
  const subnets = subnetsOf(self)
  return Object.fromEntries(poolsOf(config).map((p, i) => [p.network.ip.family, { cluster: subnetText(p.network), subnet: subnetText(subnets[i]!) }]))
}

/** The pods' MTU: the uplink's, less the VXLAN headers when packets are encapsulated. */
export function podMtu(config: ClusterConfig, uplink: Uplink): number {
  return config.backend.type === 'vxlan' ? uplink.mtu - VXLAN_OVERHEAD : uplink.mtu
}

/** Writes the CNI config for the leased subnet and installs the node's firewall rules. */
export async function publishLocal(sys: System, o: { options: NodeOptions; config: ClusterConfig; self: Lease; uplink: Uplink; firewall: NodeFirewallBackend }): Promise<void> {
  const { options, config, self, uplink } = o
  await writeAtomic(cniConfPath(options.cniConfDir, options.networkName), renderConflist({
    name: options.networkName, bridge: options.bridge, subnet: subnetText(self.subnet), gateway: gatewayOf(self.subnet), mtu: podMtu(config, uplink),
    ...(options.ipamDataDir ? { ipamDataDir: options.ipamDataDir } : {}), readinessFile: readyFileOf(options),
    ...(self.subnet6 ? { subnet6: subnetText(self.subnet6), gateway6: gatewayOf(self.subnet6) } : {}),
  }))
  await ensureForwarding(sys, subnetsOf(self).some((n) => n.ip.family === 6))
  await applyFirewall(sys, o.firewall, firewallScopes(config, self))
}

/** One pass: plan from the leases, apply the difference, re-assert the firewall, record the result. */
export async function reconcileOnce(sys: System, o: {
  options: NodeOptions; config: ClusterConfig; self: Lease; leases: readonly Lease[]; uplink: Uplink; firewall: NodeFirewallBackend; leaseId?: string; log: Logger; why: string
  /** Where warnings go (the agent logs each once per change); default: the log. */
  warn?: (msg: string) => void
}): Promise<void> {
  const warn = o.warn ?? ((msg: string) => o.log.warn(msg))
  const plan = planDataPlane({ config: o.config, self: o.self, peers: o.leases, uplink: o.uplink })
  for (const w of plan.warnings) warn(w)
  const changes = await applyDataPlane(sys, plan)
  for (const w of changes.warnings ?? []) warn(w)
  if (o.why === 'resync') await applyFirewall(sys, o.firewall, firewallScopes(o.config, o.self))
  const peers = programmedPeers(plan.routes, o.leases)
  if (changes.ip.length + changes.fdb.length > 0) o.log.info(`${o.why}: ${changes.ip.length} ip and ${changes.fdb.length} fdb changes for ${peers.length} peer(s)`)
  await writeState(o.options.stateDir, {
    subnet: subnetText(o.self.subnet),
    publicIp: o.self.publicIp,
    network: subnetText(o.config.network),
    ...(o.self.subnet6 ? { subnet6: subnetText(o.self.subnet6) } : {}),
    ...(o.config.ipv6 ? { network6: subnetText(o.config.ipv6.network) } : {}),
    ...(o.self.publicIpv6 ? { publicIpv6: o.self.publicIpv6 } : {}),
    backend: o.config.backend.type,
    mtu: podMtu(o.config, o.uplink),
    uplink: o.uplink.name,
    ...(o.leaseId ? { leaseId: o.leaseId } : {}),
    firewall: o.firewall,
    cniConfFile: cniConfPath(o.options.cniConfDir, o.options.networkName),
    peers,
    warnings: plan.warnings,
    updated: new Date().toISOString(),
  })
}

/**
 * The peers as programmed, one entry per peer with a route, in route order: the primary subnet's route in
 * `route`, a dual-stack peer's IPv6 route in `route6` (either may be missing when the planner skipped it).
 */
export function programmedPeers(routes: readonly NodeRoute[], leases: readonly Lease[]): ProgrammedPeer[] {
  const byLease = new Map<Lease, { route?: string; route6?: string }>()
  // One map from each subnet to its lease: a search per route costs 100-190 ms a pass at 1000 peers (BENCHMARKS.md).
  const byDst = new Map<string, Lease>()
  for (const l of leases) for (const n of subnetsOf(l)) if (!byDst.has(subnetText(n))) byDst.set(subnetText(n), l)
  for (const r of routes) {
    const lease = byDst.get(r.dst)
    if (!lease) continue
    const entry = byLease.get(lease) ?? {}
    const text = `via ${r.gw} dev ${r.dev}${r.onlink ? ' onlink' : ''}`
    if (subnetText(lease.subnet) === r.dst) entry.route = text
    else entry.route6 = text
    byLease.set(lease, entry)
  }
  return [...byLease].map(([l, r]) => ({
    subnet: subnetText(l.subnet), publicIp: l.publicIp, ...(l.vtepMac ? { vtepMac: l.vtepMac } : {}), route: r.route ?? 'none',
    ...(l.subnet6 ? { subnet6: subnetText(l.subnet6), route6: r.route6 ?? 'none' } : {}), ...(l.publicIpv6 ? { publicIpv6: l.publicIpv6 } : {}),
  }))
}
