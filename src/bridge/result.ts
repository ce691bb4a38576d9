// Pure: the ADD result from the plan: interfaces [bridge, host veth, container (sandbox), VLAN gateway?], IPs, routes, DNS.
import type { Result, ResultInterface } from '../plugin/result.ts'
import type { BridgePlan } from './plan.ts'

/**
 * Builds the internal (1.1-shaped) result; dispatch writes it in the config's version. Every MAC is known from
 * the plan (set at creation or pinned), so no read-back is needed. IPs point at the container, index 2.
 */
export function buildResult(plan: BridgePlan, cniVersion: string): Result {
  const interfaces: ResultInterface[] = [
    { name: plan.bridge.name, mac: plan.bridge.mac },
    { name: plan.hostVeth.name, mac: plan.hostVeth.mac },
    { name: plan.container.ifname, mac: plan.container.mac, sandbox: plan.container.netns },
  ]
  if (plan.vlanGateway) interfaces.push({ name: plan.vlanGateway.name, mac: plan.vlanGateway.mac })
  const result: Result = { cniVersion, interfaces }
  if (plan.ips.length > 0) result.ips = plan.ips.map((ip) => ({ ...ip }))
  if (plan.routes.length > 0) result.routes = plan.routes.map((r) => ({ ...r }))
  if (plan.dns) result.dns = { ...plan.dns }
  return result
}
