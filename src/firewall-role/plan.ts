// Pure: the firewall intents of one attachment, from prevResult and the config, as the reference derives them.
import type { ForwardAcceptIntent, IsolationIntent, Owner } from '../firewall/model.ts'
import { IFNAME } from '../firewall/forward-names.ts'
import { parseCidr, type IpNet } from '../plugin/addr.ts'
import { invalidConfig } from '../plugin/errors.ts'
import type { Result } from '../plugin/result.ts'
import type { FirewallConfig } from './config.ts'

/** Every address of prevResult (the reference accepts each of result.IPs, whichever interface holds it). */
export function resultAddresses(prev: Result): IpNet[] {
  return (prev.ips ?? []).map((ip) => parseCidr(ip.address)).filter((n): n is IpNet => n !== undefined)
}

/**
 * The intents: forwarding accepted for the addresses, and with `same-bridge` or `isolated` the isolation of the
 * bridge, the first interface of prevResult as in the reference (which asks for a chained bridge when it is absent).
 */
export function firewallIntents(config: FirewallConfig, owner: Owner, prev: Result): Array<ForwardAcceptIntent | IsolationIntent> {
  const addresses = resultAddresses(prev)
  const out: Array<ForwardAcceptIntent | IsolationIntent> = []
  if (addresses.length > 0) out.push({ kind: 'forward-accept', owner, addresses, adminChain: config.adminChain })
  if (config.ingressPolicy === 'open') return out
  const bridge = prev.interfaces?.[0]?.name
  if (prev.interfaces === undefined || prev.interfaces.length === 0) {
    throw invalidConfig(`interface needs to be set for ingress policy "${config.ingressPolicy}", make sure to chain "firewall" plugin with "bridge"`)
  }
  if (!bridge) throw invalidConfig('got empty bridge name in prevResult.interfaces[0].name')
  if (!IFNAME.test(bridge)) throw invalidConfig(`prevResult.interfaces[0].name ${JSON.stringify(bridge)} is not a bridge name tscni accepts (letters, digits, _ . - @ +, at most 15)`)
  const families = ([4, 6] as const).filter((f) => addresses.some((a) => a.ip.family === f))
  // Without addresses the reference sets no chains up either (its findProtos finds no family).
  if (families.length > 0) out.push({ kind: 'isolation', owner, bridge, policy: config.ingressPolicy, families })
  return out
}
