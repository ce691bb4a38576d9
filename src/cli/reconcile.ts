// `tscni reconcile`: restores the firewall state (masquerade, host ports, MAC spoof check, DNS access) and the DNS
// servers of every live attachment from tscni's own records, and releases attachments whose namespace is gone
// (after a reboot) and that the runtime no longer knows, through the roles' own DEL. Once, or with --watch.
import { dirname } from 'node:path'
import { createFirewall } from '../firewall/select.ts'
import { DEFAULT_STATE_DIR, readRecords } from '../plugin/attachment-record.ts'
import type { Outcome } from '../plugin/dispatch.ts'
import { normalizeError } from '../plugin/errors.ts'
import { ROLE_NAMES, type RoleName } from '../plugin/role.ts'
import { applyReconcile } from '../reconcile/apply.ts'
import { describeRecord, planReconcile, type NodeFacts, type ReconcilePlan, type StoredRecord } from '../reconcile/plan.ts'
import { RECONCILE_ROLES } from '../reconcile/roles.ts'
import { createSystem, type System } from '../system/index.ts'
import type { CliIo } from './io.ts'
import { parseHealthAddr } from './health-addr.ts'
import { parseOptions } from './options.ts'
import { createReconcileHealth, serveReconcileHealth } from './reconcile-health.ts'
import { DEFAULT_CACHE_DIR, readRuntimeCache } from './runtime-cache.ts'

const USAGE = 'usage: tscni reconcile [--state-dir DIR] [--cache-dir DIR] [--dry-run] [--watch [--interval SECONDS] [--health-addr IP:PORT]]'

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined }

/** Runs `tscni reconcile`. */
export async function runReconcile(args: readonly string[], io: CliIo): Promise<Outcome> {
  const opts = parseOptions(args, { values: ['--state-dir', '--cache-dir', '--interval', '--health-addr'], flags: ['--dry-run', '--watch'] })
  const usage = (msg: string): Outcome => ({ stdout: '', stderr: `tscni reconcile: ${msg}\n${USAGE}\n`, exitCode: 2 })
  if (typeof opts === 'string') return usage(opts)
  const interval = Number(opts.values['--interval'] ?? '2')
  if (!(interval > 0 && interval <= 3600)) return usage('--interval takes a number of seconds between 0 and 3600')
  const stateDir = opts.values['--state-dir'] ?? (io.env.TSCNI_STATE_DIR || DEFAULT_STATE_DIR)
  const cacheDir = opts.values['--cache-dir'] ?? DEFAULT_CACHE_DIR
  const dryRun = opts.flags.has('--dry-run')
  const sys = createSystem({ pathEnv: io.pathEnv })
  const pass = () => reconcileOnce({ io, sys, stateDir, cacheDir, dryRun })
  if (opts.values['--health-addr'] !== undefined && !opts.flags.has('--watch')) return usage('--health-addr is for --watch (a single pass has nothing to serve)')
  if (!opts.flags.has('--watch')) {
    const out = await pass()
    return { stdout: out.text, stderr: '', exitCode: out.failed ? 1 : 0 }
  }
  const addr = opts.values['--health-addr'] === undefined ? undefined : parseHealthAddr(opts.values['--health-addr'])
  if (typeof addr === 'string') return usage(addr)
  const health = createReconcileHealth()
  if (addr) io.print(`health endpoints on http://${await serveReconcileHealth(addr, health)}/healthz and /readyz\n`)
  // A bounded poll: each pass reads the records and lists each backend once per intent; quiet while nothing changes.
  for (;;) {
    const out = await pass()
    health.passed(out)
    if (out.changed || out.failed) io.print(`${new Date().toISOString()} ${out.text}`)
    await new Promise((resolve) => setTimeout(resolve, interval * 1000))
  }
}

/** What the records say about the node now: the plan, and the files that are not records. */
export async function planFromRecords(sys: System, stateDir: string, cacheDir: string): Promise<{ records: StoredRecord[]; plan: ReconcilePlan; unreadable: string[] }> {
  const { records, unreadable } = readRecords(stateDir)
  const cache = readRuntimeCache(cacheDir)
  // A namespace is alive while its path still names one: after a reboot the bind mounts under /run/netns (and
  // the /proc/<pid> of the old processes) are gone.
  const alive = new Set<string>()
  for (const r of records) if (r.netns && (await sys.netns.state(r.netns)) === 'ok') alive.add(r.netns)
  const facts: NodeFacts = {
    netnsAlive: (path) => alive.has(path),
    cached: (network, containerId, ifname) => cache.entries.some((e) => e.network === network && e.containerId === containerId && e.ifname === ifname),
  }
  return { records, plan: planReconcile(records, RECONCILE_ROLES, facts), unreadable }
}

/** For doctor: the rules live attachments miss (nothing is changed), and the attachments a pass would release. */
export async function inspectRecords(sys: System, stateDir: string, cacheDir: string): Promise<{ live: number; missing: string[]; stale: string[]; problems: string[] }> {
  const { records, plan, unreadable } = await planFromRecords(sys, stateDir, cacheDir)
  const report = await applyReconcile(plan, { firewall: createFirewall(sys, silent), sys, dryRun: true })
  return {
    live: records.length - plan.stale.length - plan.orphanedButCached.length,
    missing: report.restored.map((line) => line.replace(/^would restore /, '')),
    stale: plan.stale.map(describeRecord),
    problems: [...unreadable, ...plan.problems, ...report.failed],
  }
}

/** One pass: plan from the records and the node, restore, release the stale. */
export async function reconcileOnce(p: { io: CliIo; sys: System; stateDir: string; cacheDir: string; dryRun: boolean }): Promise<{ text: string; changed: boolean; failed: boolean }> {
  const { records, plan, unreadable } = await planFromRecords(p.sys, p.stateDir, p.cacheDir)
  const report = await applyReconcile(plan, { firewall: createFirewall(p.sys, silent), sys: p.sys, dryRun: p.dryRun })
  const released = await releaseStale(plan.stale, p)
  const lines = [
    ...report.restored,
    ...released.lines,
    ...plan.orphanedButCached.map((r) => `kept ${describeRecord(r)}: its namespace ${r.netns} is gone but the runtime still lists it (the runtime's DEL releases it)`),
    ...report.failed.map((f) => `FAILED ${f}`),
    ...released.failed.map((f) => `FAILED ${f}`),
    ...[...unreadable, ...plan.problems].map((u) => `unreadable ${u}`),
  ]
  const live = records.length - plan.stale.length - plan.orphanedButCached.length
  const summary = `${p.dryRun ? 'dry run: ' : ''}${live} live attachment record(s): ${report.present} rule set(s) in place, ${report.restored.length} ${p.dryRun ? 'to restore' : `restored in ${report.transactions} firewall transaction(s)`}; ${plan.stale.length} stale ${p.dryRun ? 'to release' : 'released'}${report.failed.length + released.failed.length ? `; ${report.failed.length + released.failed.length} failed` : ''}`
  return {
    text: `${[...lines, summary].join('\n')}\n`,
    changed: report.restored.length > 0 || plan.stale.length > 0,
    failed: report.failed.length + released.failed.length > 0,
  }
}

// Each stale record is released by its role's own DEL, run in-process with the recorded config and no namespace,
// as a runtime would after the container is gone: addresses, rules, the host veth and the record itself.
async function releaseStale(stale: readonly StoredRecord[], p: { io: CliIo; stateDir: string; dryRun: boolean }): Promise<{ lines: string[]; failed: string[] }> {
  const lines: string[] = []
  const failed: string[] = []
  for (const record of stale) {
    const what = `${describeRecord(record)} (namespace ${record.netns || '(none)'} is gone, unknown to the runtime)`
    if (p.dryRun) {
      lines.push(`would release ${what}`)
      continue
    }
    if (!(ROLE_NAMES as readonly string[]).includes(record.role)) continue
    const env = {
      CNI_COMMAND: 'DEL', CNI_CONTAINERID: record.containerId, CNI_IFNAME: record.ifname, CNI_NETNS: '',
      CNI_PATH: dirname(p.io.selfPath), PATH: p.io.env.PATH, TSCNI_STATE_DIR: p.stateDir,
    }
    try {
      const out = await p.io.runRole(record.role as RoleName, env, JSON.stringify(record.config))
      if (out.exitCode === 0) lines.push(`released ${what}`)
      else failed.push(`release ${what}: ${(JSON.parse(out.stdout) as { msg?: string }).msg ?? out.stdout}`)
    } catch (err) {
      failed.push(`release ${what}: ${normalizeError(err).message}`)
    }
  }
  return { lines, failed }
}
