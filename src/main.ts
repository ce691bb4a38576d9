// Composition root and the only user of `process`: reads argv, env and stdin, builds the real System, runs the
// role or the command-line tool, writes stdout exactly once and sets the exit status.
import { realpathSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { isSea } from 'node:sea'
import { startupSnapshot } from 'node:v8'
import { createBridge } from './bridge/handlers.ts'
import { runCli } from './cli/index.ts'
import { createDns } from './dns/handlers.ts'
import { createHostLocal } from './ipam/handlers.ts'
import { DEFAULT_STATE_DIR, diskRecords } from './plugin/attachment-record.ts'
import { createLoopback } from './loopback/handlers.ts'
import { createDelegate, findInPath } from './plugin/delegate.ts'
import { resolveInvocation, runPlugin, type InvocationRecord, type Outcome } from './plugin/dispatch.ts'
import { createLogger, levelFromEnv } from './plugin/log.ts'
import type { RoleHandlers, RoleName } from './plugin/role.ts'
import { createPortmap } from './portmap/handlers.ts'
import { writeInvocationLog } from './plugin/invocation-log.ts'
import { createTracer } from './plugin/trace.ts'
import { envPause } from './plugin/test-pause.ts'
import { createSystem } from './system/index.ts'

// Runtimes may exec plugins with an empty or minimal environment: always find the system tools.
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

async function main(): Promise<void> {
  const env: Record<string, string | undefined> = { ...process.env }
  const sea = isSea()
  // A link keeps its own name in argv0 for the single executable and in argv[1] for the bundle.
  const invokedAs = basename(sea ? process.argv0 : process.argv[1] ?? 'tscni')
  // Resolved only when needed (install, and deciding whether "host-local" on CNI_PATH is this executable).
  const selfPath = (): string => (sea ? process.execPath : realpathSync(process.argv[1] ?? ''))
  const invocation = resolveInvocation(invokedAs, process.argv.slice(2))
  const outcome = await run(invocation, env, selfPath, sea)
  if (outcome.stderr) process.stderr.write(outcome.stderr)
  if (outcome.stdout) process.stdout.write(outcome.stdout)
  process.exitCode = outcome.exitCode
}

async function run(invocation: ReturnType<typeof resolveInvocation>, env: Record<string, string | undefined>, selfPath: () => string, sea: boolean): Promise<Outcome> {
  // TSCNI_SYSTEM_PATH replaces the fallback dirs: for nodes with tools elsewhere, and to test a missing tool.
  const systemPath = env.TSCNI_SYSTEM_PATH || SYSTEM_PATH
  const pathEnv = env.PATH ? `${env.PATH}:${systemPath}` : systemPath
  if (invocation.kind === 'unknown') {
    return { stdout: '', stderr: `tscni: invoked as "${invocation.name}", which is not a role (bridge, host-local, portmap, loopback, dnsname) or tscni\n`, exitCode: 2 }
  }
  if (invocation.kind === 'cli') {
    return runCli(invocation.args, {
      env, selfPath: selfPath(), isSea: sea, pathEnv, nodeVersion: process.versions.node, uid: process.getuid?.(), readStdin,
      print: (text) => void process.stdout.write(text),
      writeStderr: (text) => void process.stderr.write(text),
      onShutdown: () => {
        const stop = new AbortController()
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort())
        return stop.signal
      },
      // The tool runs roles in-process through the same dispatcher a runtime's call goes through (tscni gc).
      runRole: (role, roleEnv, stdin) => runRole(role, roleEnv, async () => stdin, pathEnv, selfPath, { allInProcess: true }),
    })
  }
  return runRole(invocation.role, env, readStdin, pathEnv, selfPath, { allInProcess: false })
}

// One CNI invocation of a role: System, roles and IPAM delegate composed, the verb run, the JSON-lines log written.
async function runRole(role: RoleName, env: Readonly<Record<string, string | undefined>>, stdin: () => Promise<string>, pathEnv: string,
  selfPath: () => string, options: { allInProcess: boolean }): Promise<Outcome> {
  const log = createLogger((line) => process.stderr.write(line), `tscni-${role}`, levelFromEnv(env.TSCNI_LOG_LEVEL))
  const sys = createSystem({ pathEnv, onRun: (cmd, args, ms) => log.debug(`${ms.toFixed(1)} ms: ${cmd} ${args.join(' ')}`) })
  const hostLocal = createHostLocal()
  const roles: Record<RoleName, RoleHandlers> = { bridge: createBridge(), 'host-local': hostLocal, portmap: createPortmap(), loopback: createLoopback(), dnsname: createDns() }
  const ipam = createDelegate({
    exec: sys.exec,
    env,
    // tscni-host-local is always ours; "host-local" is ours only when CNI_PATH resolves it to this executable
    // (or, for the tool's own in-process runs, always: the on-disk format is the reference's anyway).
    inProcess: async (type, cniPath) =>
      type === 'tscni-host-local' || (type === 'host-local' && (options.allInProcess || (await isSelf(type, cniPath, selfPath)))) ? hostLocal : undefined,
  })
  const tracer = createTracer()
  // TSCNI_STATE_DIR moves the records (tests, and nodes with another layout); a config's stateDir wins over both.
  const records = diskRecords(env.TSCNI_STATE_DIR || DEFAULT_STATE_DIR)
  const pause = envPause(env, (f) => writeFileSync(f, String(process.pid)))
  const record: InvocationRecord = {}
  const started = performance.now()
  const outcome = await runPlugin(roles[role], {
    env,
    readStdin: stdin,
    sys,
    makeContext: (cniEnv, conf, raw) => ({ env: cniEnv, conf, stdin: raw, sys, ipam, log, trace: tracer, records, pause }),
  }, record)
  await writeInvocationLog({ env, role, record, steps: tracer.steps, totalMs: performance.now() - started, log })
  return outcome
}

async function isSelf(type: string, cniPath: readonly string[], selfPath: () => string): Promise<boolean> {
  const found = await findInPath(type, cniPath)
  if (!found) return false
  try {
    return realpathSync(found) === selfPath()
  } catch {
    return false
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function start(): void {
  main().catch((err: unknown) => {
    // Only reached on a bug in main itself; runPlugin already turns every verb failure into error JSON.
    process.stderr.write(`tscni: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: `internal error: ${String(err)}` })}\n`)
    process.exitCode = 1
  })
}

// In the single executable built with a startup snapshot, module initialisation happened at build time and
// start() runs when the snapshot is deserialised; otherwise it runs now.
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start)
else start()
