// The steps both modes (etcd and static) share: publish the node's network locally (CNI config, firewall), and
// one reconcile pass (plan, apply, record what was programmed in the state file).
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import { clusterConfigJson, type ClusterConfig } from './cluster-config.ts'
import type { NodeFirewallBackend } from './firewall-rules.ts'
import { applyDataPlane, applyFirewall } from './kernel.ts'
import type { Lease } from './leases.ts'
import { cniConfPath, renderConflist, writeAtomic, writeState } from './local-files.ts'
import type { NodeOptions } from './options.ts'
import { gatewayOf, planDataPlane, VXLAN_OVERHEAD, type Uplink } from './plan.ts'
import { subnetText } from './subnets.ts'

/** The pods' MTU: the uplink's, less the VXLAN headers when packets are encapsulated. */
export function podMtu(config: ClusterConfig, uplink: Uplink): number {
  return config.backend.type === 'vxlan' ? uplink.mtu - VXLAN_OVERHEAD : uplink.mtu
}

/** Writes the CNI config for the leased subnet and installs the node's firewall rules. */
export async function publishLocal(sys: System, o: { options: NodeOptions; config: ClusterConfig; self: Lease; uplink: Uplink; firewall: NodeFirewallBackend }): Promise<void> {
  const { options, config, self, uplink } = o
  await writeAtomic(cniConfPath(options.cniConfDir, options.networkName), renderConflist({
    name: options.networkName, bridge: options.bridge, subnet: subnetText(self.subnet), gateway: gatewayOf(self.subnet), mtu: podMtu(config, uplink),
    ...(options.ipamDataDir ? { ipamDataDir: options.ipamDataDir } : {}),
  }))
  await applyFirewall(sys, o.firewall, { cluster: subnetText(config.network), subnet: subnetText(self.subnet) })
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
  if (o.why === 'resync') await applyFirewall(sys, o.firewall, { cluster: subnetText(o.config.network), subnet: subnetText(o.self.subnet) })
  if (changes.ip.length + changes.fdb.length > 0) o.log.info(`${o.why}: ${changes.ip.length} ip and ${changes.fdb.length} fdb changes for ${plan.routes.length} peer(s)`)
  // A map, not a search per route: formatting every lease's subnet for every route cost 150 ms at 1000 peers.
  const byDst = new Map(o.leases.map((l) => [subnetText(l.subnet), l]))
  const peers = plan.routes.map((r) => {
    const lease = byDst.get(r.dst)!
    return { subnet: r.dst, publicIp: lease.publicIp, ...(lease.vtepMac ? { vtepMac: lease.vtepMac } : {}), route: `via ${r.gw} dev ${r.dev}${r.onlink ? ' onlink' : ''}` }
  })
  await writeState(o.options.stateDir, {
    subnet: subnetText(o.self.subnet),
    publicIp: o.self.publicIp,
    network: String(clusterConfigJson(o.config).Network),
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
