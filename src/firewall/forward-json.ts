// The firewall role's intents (forward-accept, isolation) read back from an attachment record, validated.
import { parseCidr, type IpNet } from '../plugin/addr.ts'
import type { ForwardAcceptIntent, IsolationIntent, Owner } from './model.ts'
import { CHAIN_NAME, IFNAME } from './forward-names.ts'

/** The intent, a string saying what is wrong, or undefined when `i` is of another kind. */
export function forwardIntentFromJson(i: Record<string, unknown>, owner: Owner): ForwardAcceptIntent | IsolationIntent | string | undefined {
  if (i.kind === 'forward-accept') {
    const addresses = Array.isArray(i.addresses) ? i.addresses.map((a) => (typeof a === 'string' ? parseCidr(a) : undefined)) : []
    if (addresses.length === 0 || addresses.some((a) => a === undefined)) return 'forward-accept intent without valid addresses'
    if (typeof i.adminChain !== 'string' || !CHAIN_NAME.test(i.adminChain)) return 'forward-accept intent without a valid adminChain'
    return { kind: 'forward-accept', owner, addresses: addresses as IpNet[], adminChain: i.adminChain }
  }
  if (i.kind === 'isolation') {
    if (typeof i.bridge !== 'string' || !IFNAME.test(i.bridge)) return 'isolation intent without a valid bridge name'
    if (i.policy !== 'same-bridge' && i.policy !== 'isolated') return 'isolation intent without a valid policy'
    const families = Array.isArray(i.families) ? i.families.filter((f): f is 4 | 6 => f === 4 || f === 6) : []
    if (families.length === 0) return 'isolation intent without families'
    return { kind: 'isolation', owner, bridge: i.bridge, policy: i.policy, families }
  }
  return undefined
}
