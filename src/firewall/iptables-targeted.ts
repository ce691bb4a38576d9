// iptables-restore scripts for one attachment that need no save of the whole nat table: an ADD that asserts the
// shared rules inside its own transaction, and a DEL from one listed entry chain. Either fails, applying nothing,
// when the table is not as it assumes; the caller then falls back to the full save (iptables-render.ts).
import type { IpFamily } from '../plugin/addr.ts'
import type { IntentKind, MasqIntent, Owner, PortmapIntent } from './model.ts'
import { ruleLine } from './iptables-text.ts'
import { EMPTY_NAT, type SavedRule } from './iptables-save.ts'
import { ownedChains, renderMasqEnsure, wrapScript } from './iptables-render.ts'
import {
  dnatChain, dnatEntryRules, dnatRules, markMasqRule, masqRules, setMarkRule, MARK_MASQ, MARK_MASQ_ENTRY, SETMARK, TOP_DNAT, TOP_DNAT_ENTRY,
} from './iptables-rules.ts'

/**
 * ADD of an owner whose chain does not exist yet: exactly what the full path renders from a table without it.
 * "-N" fails when the chain exists (a repeated ADD, or a second ifname of the container): then nothing is applied.
 * No jump to the chain can exist without it, so nothing of the owner is there when the script succeeds.
 */
export function renderMasqFast(intent: MasqIntent, family: IpFamily): string {
  return renderMasqEnsure(intent, family, EMPTY_NAT)
}

/**
 * ADD of a new owner's port mappings, for a node whose shared portmap chains are in place: "-C" lines assert each
 * shared rule the full path would otherwise add (a missing one fails the whole transaction, as iptables-restore
 * applies all or nothing), then the owner's chain ("-N": fails if it exists), its rules and its jumps. When the
 * script succeeds, the table ends exactly as the full path would leave it.
 */
export function renderPortmapFast(intent: PortmapIntent, family: IpFamily): string {
  const container = family === 4 ? intent.containerV4 : intent.containerV6
  if (!container) return ''
  const out: string[] = []
  if (intent.snat && intent.externalSetMarkChain === undefined) {
    out.push(ruleLine('-C', SETMARK, setMarkRule(intent.markMasqBit)), ruleLine('-C', MARK_MASQ, markMasqRule(intent.markMasqBit)),
      ruleLine('-C', 'POSTROUTING', MARK_MASQ_ENTRY))
  }
  // The entry jumps also assert that CNI-HOSTPORT-DNAT exists (a jump needs its target).
  out.push(ruleLine('-C', 'PREROUTING', TOP_DNAT_ENTRY), ruleLine('-C', 'OUTPUT', TOP_DNAT_ENTRY))
  const chain = dnatChain(intent.owner)
  out.push(`-N ${chain}`)
  for (const r of dnatRules(intent, container)) out.push(ruleLine('-A', chain, r))
  for (const r of dnatEntryRules(intent, family)) out.push(ruleLine('-A', TOP_DNAT, [...r, '-j', chain]))
  return wrapScript(out)
}

/**
 * DEL of an attachment whose record holds its intent: the jumps its ADD made are deleted by their exact rules ("-D"
 * fails when one is not there, and then nothing is applied) and its chains flushed and removed, reading nothing,
 * so the cost does not grow with the attachments on the node. A table that is not as recorded (a foreign jump, a
 * second interface sharing the chain) makes it fail whole; the caller then lists the entry chain.
 */
export function renderExactRemove(intent: MasqIntent | PortmapIntent, family: IpFamily): string {
  const drop = ownedChains(intent.kind, intent.owner).flatMap((c) => [`:${c} - [0:0]`, `-X ${c}`])
  if (intent.kind === 'masquerade') {
    const jumps = new Set(intent.addresses.filter((a) => a.ip.family === family).map((a) => ruleLine('-D', 'POSTROUTING', masqRules(intent.owner, a).postrouting)))
    return jumps.size === 0 ? '' : wrapScript([...jumps, ...drop])
  }
  if (intent.kind !== 'portmap' || !(family === 4 ? intent.containerV4 : intent.containerV6)) return ''
  const chain = dnatChain(intent.owner)
  return wrapScript([...dnatEntryRules(intent, family).map((r) => ruleLine('-D', TOP_DNAT, [...r, '-j', chain])), ...drop])
}

/** The one chain holding the jumps to a kind's owner chains in the reference layout: the only one DEL lists. */
export function entryChainOf(kind: IntentKind): string {
  return kind === 'masquerade' ? 'POSTROUTING' : TOP_DNAT
}

/**
 * DEL from the entry chain's rules alone: each jump found to the owner's chains, then the chains (declared first,
 * which flushes one that exists and makes a missing one harmless). Undefined when no jump is there: the owner is
 * gone, or left a chain nothing jumps to (a crash inside another plugin's ADD), which only a full save can tell.
 * A jump from any other chain makes "-X" fail, so the caller's full path removes it too.
 */
export function renderTargetedRemove(kind: IntentKind, owner: Owner, entryRules: readonly SavedRule[]): string | undefined {
  const chains = ownedChains(kind, owner)
  const entry = entryChainOf(kind)
  const jumps = entryRules.filter((r) => r.chain === entry && r.target !== undefined && chains.includes(r.target))
  if (jumps.length === 0) return undefined
  return wrapScript([...jumps.map((r) => `-D ${r.chain} ${r.text}`), ...chains.flatMap((c) => [`:${c} - [0:0]`, `-X ${c}`])])
}
