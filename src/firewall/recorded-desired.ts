// A record's rules (as written by intent-json.ts) as the rules reconcile restores; shared by bridge and portmap.
import type { BackendName } from './backend.ts'
import { parseRecordedRules } from './intent-json.ts'
import type { FirewallIntent, SpoofCheck } from './model.ts'

/** A rule to restore: a firewall intent through its backend, or a MAC spoof check. */
export type RecordedRule =
  | { readonly kind: 'firewall'; readonly backend: BackendName; readonly intent: FirewallIntent }
  | { readonly kind: 'spoof-check'; readonly check: SpoofCheck }

/** The rules a record's `rules` field asks for, and what could not be read. */
export function rulesOfRecord(rules: unknown): { rules: RecordedRule[]; problems: string[] } {
  const parsed = parseRecordedRules(rules)
  return {
    rules: [
      ...parsed.firewall.map((f): RecordedRule => ({ kind: 'firewall', backend: f.backend, intent: f.intent })),
      ...(parsed.spoofCheck ? [{ kind: 'spoof-check' as const, check: parsed.spoofCheck }] : []),
    ],
    problems: parsed.problems,
  }
}
