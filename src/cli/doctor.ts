// `tscni doctor`: what a node operator needs to know before the first pod, one line per check, non-zero exit
// when something is wrong (a failed check, a leaked reservation, stale firewall rules).
import { DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { DEFAULT_STATE_DIR } from '../plugin/attachment-record.ts'
import type { Outcome } from '../plugin/dispatch.ts'
import { doctorChecks, exitCodeOf, type Check, type CheckStatus } from './doctor-checks.ts'
import { gatherFacts, type DoctorDirs } from './doctor-facts.ts'
import type { CliIo } from './io.ts'
import { DEFAULT_CONF_DIR } from './networks.ts'
import { parseOptions } from './options.ts'
import { DEFAULT_CACHE_DIR } from './runtime-cache.ts'

export { DEFAULT_CACHE_DIR }

/** Runs `tscni doctor [--data-dir DIR] [--conf-dir DIR] [--cache-dir DIR] [--state-dir DIR] [--json]`. */
export async function runDoctor(args: readonly string[], io: CliIo): Promise<Outcome> {
  const opts = parseOptions(args, { values: ['--data-dir', '--conf-dir', '--cache-dir', '--state-dir'], flags: ['--json'] })
  if (typeof opts === 'string') return { stdout: '', stderr: `tscni doctor: ${opts}\n`, exitCode: 2 }
  const dirs: DoctorDirs = {
    dataDir: opts.values['--data-dir'] ?? DEFAULT_DATA_DIR,
    confDir: opts.values['--conf-dir'] ?? DEFAULT_CONF_DIR,
    cacheDir: opts.values['--cache-dir'] ?? DEFAULT_CACHE_DIR,
    stateDir: opts.values['--state-dir'] ?? (io.env.TSCNI_STATE_DIR || DEFAULT_STATE_DIR),
  }
  const checks = [pathCheck(io.startup, io.nativeState?.(), io.env.TSCNI_NETLINK !== '0'), ...doctorChecks(await gatherFacts(dirs, io.pathEnv, io.uid))]
  const exitCode = exitCodeOf(checks)
  const stdout = opts.flags.has('--json') ? renderDoctorJson(dirs, checks, exitCode) : renderDoctor(dirs, checks, exitCode)
  return { stdout, stderr: '', exitCode }
}

/**
 * Which path a plugin call takes: the addon (locks in-process, kernel work over netlink unless TSCNI_NETLINK=0) or
 * the tools alone, and how the process starts.
 */
export function pathCheck(startup: string | undefined, native: { readonly loaded: boolean; readonly detail: string } | undefined, netlinkWanted: boolean): Check {
  const kernel = native?.loaded && netlinkWanted
    ? 'links, addresses, routes and conntrack over netlink'
    : `links, addresses and routes through ip, conntrack through conntrack(8)${native?.loaded ? ' (TSCNI_NETLINK=0)' : ''}`
  return { check: 'plugin path', status: 'info', detail: `${native?.detail ?? 'native addon not checked'}; ${kernel}; start-up: ${startup ?? 'unknown'}` }
}

const WORD: Readonly<Record<CheckStatus, string>> = { ok: 'ok', warn: 'warn', fail: 'FAIL', info: 'info' }

/** The report for people (pure): a header, one line per check (remedies indented below), a summary. */
export function renderDoctor(dirs: DoctorDirs, checks: readonly Check[], exitCode: number): string {
  const width = Math.max(...checks.map((c) => c.check.length))
  const pad = ' '.repeat(6 + width + 2)
  const lines = [`tscni doctor: data dir ${dirs.dataDir}, conf dir ${dirs.confDir}, cache dir ${dirs.cacheDir}, state dir ${dirs.stateDir}`, '']
  for (const c of checks) {
    lines.push(`${WORD[c.status].padEnd(6)}${c.check.padEnd(width)}  ${c.detail}`)
    if (c.remedy && (c.status === 'fail' || c.status === 'warn')) lines.push(`${pad}remedy: ${c.remedy}`)
  }
  lines.push('', summaryLine(checks, exitCode))
  return `${lines.join('\n')}\n`
}

/** The counts per status and the verdict. */
export function summaryLine(checks: readonly Check[], exitCode: number): string {
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length
  const counts = `${count('ok')} ok, ${count('warn')} warn, ${count('fail')} FAIL, ${count('info')} info`
  return exitCode === 0
    ? `${counts}: ready${count('warn') > 0 ? ' (see the warnings)' : ''}`
    : `${counts}: ${count('fail')} problem(s) to fix (exit ${exitCode})`
}

/** The checks as JSON (pure), for scripts and monitoring. */
export function renderDoctorJson(dirs: DoctorDirs, checks: readonly Check[], exitCode: number): string {
  const count = (s: CheckStatus) => checks.filter((c) => c.status === s).length
  const summary = { ok: count('ok'), warn: count('warn'), fail: count('fail'), info: count('info') }
  return `${JSON.stringify({ ...dirs, healthy: exitCode === 0, exitCode, summary, checks }, null, 2)}\n`
}
