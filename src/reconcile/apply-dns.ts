// Carries out the DNS part of a reconcile plan: each network's port 53 access that is missing is installed again (one
// transaction per backend), and a network whose name server is down while live attachments need it gets it
// started again from its own config, under the DNS role's lock, as its next ADD would.
import { createDnsFirewall } from '../firewall/dns-access.ts'
import type { DnsAccess } from '../firewall/model.ts'
import { networkPaths } from '../dns/plan.ts'
import { lockPath, readIfExists } from '../dns/store.ts'
import { normalizeError } from '../plugin/errors.ts'
import type { Dnsmasq, Locker, Netfilter } from '../system/index.ts'
import type { ReconcilePlan } from './plan.ts'

/** What the DNS step needs of the system. */
export interface DnsReconcileSystem {
  readonly netfilter: Netfilter
  readonly locker: Locker
  readonly dnsmasq: Dnsmasq
}

/** The same counters as the rest of the report. */
export interface DnsReconcileReport {
  present: number
  readonly restored: string[]
  readonly failed: string[]
  transactions: number
}

// As long as the DNS role waits for its own lock.
const LOCK_TIMEOUT_MS = 20_000

/** Applies the DNS part of a plan into `report`. */
export async function applyDnsReconcile(plan: ReconcilePlan, deps: { sys: DnsReconcileSystem; dryRun: boolean }, report: DnsReconcileReport): Promise<void> {
  const verb = deps.dryRun ? 'would restore' : 'restored'
  const dnsFirewall = createDnsFirewall(deps.sys)
  for (const [backend, networks] of plan.dns) {
    const missing: Array<{ what: string; access: DnsAccess }> = []
    for (const { records, access } of networks) {
      const what = `DNS access of network ${access.network} for ${records.length} attachment(s) (${backend})`
      try {
        if ((await dnsFirewall.missing(backend, access)).length === 0) report.present++
        else missing.push({ what, access })
      } catch (err) {
        report.failed.push(`${what}: ${normalizeError(err).message}`)
      }
    }
    if (missing.length === 0) continue
    try {
      if (!deps.dryRun) await dnsFirewall.ensureAll(backend, missing.map((m) => m.access))
      report.restored.push(...missing.map((m) => `${verb} ${m.what}`))
      report.transactions++
    } catch (err) {
      report.failed.push(...missing.map((m) => `${m.what}: ${normalizeError(err).message}`))
    }
  }
  for (const need of plan.dnsServers) {
    const paths = networkPaths(need.dataDir, need.network)
    const what = `DNS server (dnsmasq) of network ${need.network}`
    try {
      if ((await deps.sys.dnsmasq.running(paths.pidFile, paths.conf)) !== undefined) {
        report.present++
        continue
      }
      if (deps.dryRun) {
        report.restored.push(`${verb} ${what}`)
        continue
      }
      // Under the role's lock, so a DEL removing the network's last attachment meanwhile is not undone.
      const lock = await deps.sys.locker.acquire(await lockPath(need.dataDir), LOCK_TIMEOUT_MS)
      try {
        if ((await deps.sys.dnsmasq.running(paths.pidFile, paths.conf)) !== undefined) {
          report.present++
          continue
        }
        const present = await Promise.all(need.hostsFiles.map((f) => readIfExists(`${paths.hostsDir}/${f}`)))
        if (present.every((content) => content === undefined)) continue // all DELeted meanwhile: nothing to serve
        if ((await readIfExists(paths.conf)) === undefined) {
          report.failed.push(`${what}: its config ${paths.conf} is gone; the next ADD on the network writes it and starts the server`)
          continue
        }
        await deps.sys.dnsmasq.start(paths.conf, paths.pidFile)
        report.restored.push(`${verb} ${what}`)
      } finally {
        await lock.release()
      }
    } catch (err) {
      report.failed.push(`${what}: ${normalizeError(err).message}`)
    }
  }
}
