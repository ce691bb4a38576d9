// A record's rules (as written by intent-json.ts) as the rules reconcile restores; shared by bridge and portmap.
import type { BackendName } from './backend.ts'
import { parseRecordedRules } from './intent-json.ts'
import { LOCALNET_DROP, type FirewallIntent, type SpoofCheck } from './model.ts'

/** A rule to restore: a firewall intent through its backend, or a MAC spoof check. */
export type RecordedRule =
  | { readonly kind: 'firewall'; readonly backend: BackendName; readonly intent: FirewallIntent }
  | { readonly kind: 'spoof-check'; readonly check: SpoofCheck }

/**
 * The reconcile part (a ReconcileRole, see reconcile/role.ts) of a role whose records hold intent-json rules
 * (bridge: masquerade and spoof check; portmap: host ports).
 */
export function recordedRulesRole(role: string): { role: string; desired: (record: { rules?: unknown }) => { rules: RecordedRule[]; problems: string[] } } {
  return { role, desired: (record) => rulesOfRecord(record.rules) }
}

/** The rules a record's `rules` field asks for, and what could not be read. */
export function rulesOfRecord(rules: unknown): { rules: RecordedRule[]; problems: string[] } {
  const parsed = parseRecordedRules(rules)
  // A portmap intent that set route_localnet (snat, an IPv4 container address) also asks for the node-wide loopback
  // drop through its backend: derived, not recorded, so records written before the drop existed get it restored
  // too (the planner keeps one per backend).
  const drops = parsed.firewall.filter((f) => f.intent.kind === 'portmap' && f.intent.snat && f.intent.containerV4)
  return {
    rules: [
      ...parsed.firewall.map((f): RecordedRule => ({ kind: 'firewall', backend: f.backend, intent: f.intent })),
      ...drops.map((f): RecordedRule => ({ kind: 'firewall', backend: f.backend, intent: LOCALNET_DROP })),
      ...(parsed.spoofCheck ? [{ kind: 'spoof-check' as const, check: parsed.spoofCheck }] : []),
    ],
    problems: parsed.problems,
  }
}
