// The node-wide loopback drop in iptables (pure): raw PREROUTING drops packets to 127.0.0.0/8 that did not arrive
// on lo, before conntrack and NAT see them, as moby#49325 does for the same hole (moby#48721). kubelet's form
// (kubernetes#91569, filter INPUT) must exempt DNATed and established traffic; at raw nothing is rewritten yet.
import { hasRule, parseSave } from './iptables-save.ts'
import { ruleLine } from './iptables-text.ts'

/** The comment that marks the rule as tscni's (and lets an operator see why it is there). */
export const LOCALNET_COMMENT = 'tscni: loopback traffic only from lo (route_localnet)'

/** The rule, in raw PREROUTING. */
export const LOCALNET_RULE: readonly string[] = ['!', '-i', 'lo', '-d', '127.0.0.0/8', '-m', 'comment', '--comment', LOCALNET_COMMENT, '-j', 'DROP']

function present(rawSave: string): boolean {
  return hasRule(parseSave(rawSave, 'raw'), 'PREROUTING', LOCALNET_RULE)
}

/**
 * iptables-restore script inserting the rule first in raw PREROUTING (an earlier ACCEPT there would end the raw
 * table before it); '' when it is there already. `rawSave` is `iptables-save -t raw`.
 */
export function renderLocalnetEnsure(rawSave: string): string {
  return present(rawSave) ? '' : `*raw\n${ruleLine('-I', 'PREROUTING 1', LOCALNET_RULE)}\nCOMMIT\n`
}

/** iptables-restore script deleting every copy of the rule; '' when there is none. */
export function renderLocalnetRemove(rawSave: string): string {
  const copies = parseSave(rawSave, 'raw').rules.filter((r) => r.chain === 'PREROUTING' && r.comment === LOCALNET_COMMENT)
  return copies.length === 0 ? '' : `*raw\n${copies.map((r) => `-D PREROUTING ${r.text}`).join('\n')}\nCOMMIT\n`
}

/** What CHECK finds missing (empty when the rule is in place). */
export function missingLocalnet(rawSave: string): string[] {
  return present(rawSave) ? [] : [`raw: ${ruleLine('-A', 'PREROUTING', LOCALNET_RULE)}`]
}
