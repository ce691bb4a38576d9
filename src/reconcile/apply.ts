// Carries out a reconcile plan: for every live attachment, each rule that is missing is installed again, in one
// transaction per backend (ensureAll; ensure is idempotent, so partly present intents are fine); with dryRun
// only what would be installed is reported. DNS access and servers are restored by apply-dns.ts.
import type { FirewallIntent } from '../firewall/model.ts'
import type { Firewall } from '../firewall/select.ts'
import { setupSpoofCheck, spoofCheckPresent, teardownSpoofCheck, type SpoofCheckSystem } from '../firewall/nft-spoofcheck.ts'
import { normalizeError } from '../plugin/errors.ts'
import { applyDnsReconcile, type DnsReconcileSystem } from './apply-dns.ts'
import { describeRecord, type ReconcilePlan } from './plan.ts'

/** What a pass found and did, one line per rule restored (or to restore) or failed. */
export interface ReconcileReport {
  readonly present: number
  readonly restored: string[]
  readonly failed: string[]
  /** Backends whose missing rules were installed (one transaction each, per family for iptables; DNS access apart). */
  readonly transactions: number
}

// How a report names each kind of rule set.
const INTENT_WORDS: Readonly<Record<FirewallIntent['kind'], string>> = { masquerade: 'masquerade', portmap: 'host ports', 'forward-accept': 'forwarding accepts', isolation: 'bridge isolation', 'localnet-drop': 'loopback drop' }

/** Applies the firewall part of a plan. */
export async function applyReconcile(plan: ReconcilePlan, deps: { firewall: Firewall; sys: SpoofCheckSystem & DnsReconcileSystem; dryRun: boolean }): Promise<ReconcileReport> {
  const report = { present: 0, restored: [] as string[], failed: [] as string[], transactions: 0 }
  const verb = deps.dryRun ? 'would restore' : 'restored'
  for (const [name, items] of plan.firewall) {
    let backend
    try {
      backend = await deps.firewall.select(name)
    } catch (err) {
      report.failed.push(`${name}: ${normalizeError(err).message}`)
      continue
    }
    // Checks are reads; what is missing is then installed in one transaction of this backend.
    const missing: Array<{ what: string; intent: FirewallIntent }> = []
    for (const { record, intent } of items) {
      const what = intent.kind === 'localnet-drop'
        ? `loopback drop (packets to 127.0.0.0/8 not from lo), needed by ${describeRecord(record)} (${name})`
        : `${INTENT_WORDS[intent.kind]} of ${describeRecord(record)} (${name})`
      try {
        await backend.verify(intent)
        report.present++
      } catch {
        missing.push({ what, intent }) // missing or partly missing: ensure installs exactly what is absent
      }
    }
    if (missing.length === 0) continue
    try {
      if (!deps.dryRun) {
        if (backend.ensureAll) await backend.ensureAll(missing.map((m) => m.intent))
        else for (const m of missing) await backend.ensure(m.intent)
      }
      report.restored.push(...missing.map((m) => `${verb} ${m.what}`))
      report.transactions++
    } catch (err) {
      report.failed.push(...missing.map((m) => `${m.what}: ${normalizeError(err).message}`))
    }
  }
  for (const { record, check } of plan.spoofChecks) {
    const what = `MAC spoof check of ${describeRecord(record)} (${check.hostVeth})`
    try {
      if (await spoofCheckPresent(deps.sys, check)) {
        report.present++
        continue
      }
      if (!deps.dryRun) {
        // A partial check is removed first: setting it up again adds the PREROUTING jump once more.
        await teardownSpoofCheck(deps.sys, check.refId)
        await setupSpoofCheck(deps.sys, check)
      }
      report.restored.push(`${verb} ${what}`)
    } catch (err) {
      report.failed.push(`${what}: ${normalizeError(err).message}`)
    }
  }
  await applyDnsReconcile(plan, deps, report)
  return report
}
