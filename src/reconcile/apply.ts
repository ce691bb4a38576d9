// Carries out a reconcile plan: for every live attachment, each rule that is missing is installed again (each
// backend's ensure is idempotent); with dryRun only what would be installed is reported.
import type { Firewall } from '../firewall/select.ts'
import { setupSpoofCheck, spoofCheckPresent, teardownSpoofCheck, type SpoofCheckSystem } from '../firewall/nft-spoofcheck.ts'
import { normalizeError } from '../plugin/errors.ts'
import { describeRecord, type ReconcilePlan } from './plan.ts'

/** What a pass found and did, one line per rule restored (or to restore) or failed. */
export interface ReconcileReport {
  readonly present: number
  readonly restored: string[]
  readonly failed: string[]
}

/** Applies the firewall part of a plan. */
export async function applyReconcile(plan: ReconcilePlan, deps: { firewall: Firewall; sys: SpoofCheckSystem; dryRun: boolean }): Promise<ReconcileReport> {
  const report = { present: 0, restored: [] as string[], failed: [] as string[] }
  const verb = deps.dryRun ? 'would restore' : 'restored'
  for (const [name, items] of plan.firewall) {
    let backend
    try {
      backend = await deps.firewall.select(name)
    } catch (err) {
      report.failed.push(`${name}: ${normalizeError(err).message}`)
      continue
    }
    for (const { record, intent } of items) {
      const what = `${intent.kind === 'masquerade' ? 'masquerade' : 'host ports'} of ${describeRecord(record)} (${name})`
      try {
        await backend.verify(intent)
        report.present++
        continue
      } catch {
        // missing or partly missing: ensure installs exactly what is absent
      }
      try {
        if (!deps.dryRun) await backend.ensure(intent)
        report.restored.push(`${verb} ${what}`)
      } catch (err) {
        report.failed.push(`${what}: ${normalizeError(err).message}`)
      }
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
  return report
}
