// Composition root and the only user of `process`: reads argv, env and stdin, builds the real System, runs the
// role or the command-line tool, writes stdout exactly once and sets the exit status.
import { readFileSync, realpathSync, writeFileSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { getRawAsset, isSea } from 'node:sea'
import { DEFAULT_STATE_DIR, diskRecords } from './plugin/attachment-record.ts'
import { createDelegate, findInPath } from './plugin/delegate.ts'
import { resolveInvocation, runPlugin, type InvocationRecord, type Outcome } from './plugin/dispatch.ts'
import { createLogger, levelFromEnv } from './plugin/log.ts'
import { ROLE_NAMES, type RoleHandlers, type RoleName } from './plugin/role.ts'
import { writeInvocationLog } from './plugin/invocation-log.ts'
import { createTracer } from './plugin/trace.ts'
import { envPause } from './plugin/test-pause.ts'
import { createSystem, loadNative, type Native, type NativeLoad, type NativeSource } from './system/index.ts'

// Each role, and the command-line tool, is loaded when called: a module's top level (zod schemas above all) runs
// only in the calls that use it, ~5 ms a call saved on start-up (BENCHMARKS.md). The bundle stays one file.
const ROLE_MODULES: Record<RoleName, () => Promise<RoleHandlers>> = {
  bridge: async () => (await import('./bridge/handlers.ts')).createBridge(),
  'host-local': async () => (await import('./ipam/handlers.ts')).createHostLocal(),
  portmap: async () => (await import('./portmap/handlers.ts')).createPortmap(),
  loopback: async () => (await import('./loopback/handlers.ts')).createLoopback(),
  dnsname: async () => (await import('./dns/handlers.ts')).createDns(),
  // TSCNI_TUNING_ALLOWLIST moves the sysctl allowlist (tests); a config cannot, or it could lift the admin's limits.
  tuning: async () => (await import('./tuning/handlers.ts')).createTuning({ allowlist: process.env.TSCNI_TUNING_ALLOWLIST }),
  bandwidth: async () => (await import('./bandwidth/handlers.ts')).createBandwidth(),
  firewall: async () => (await import('./firewall-role/handlers.ts')).createFirewallRole(),
}

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
  if (outcome.stderr) writeFully(2, outcome.stderr)
  if (outcome.stdout) writeFully(1, outcome.stdout)
  // Exit now instead of letting Node tear its heap and environment down (5-15 ms measured after a bridge ADD, all
  // of it after the runtime already has the answer): everything was written synchronously and nothing is pending.
  process.exit(outcome.exitCode)
}

async function run(invocation: ReturnType<typeof resolveInvocation>, env: Record<string, string | undefined>, selfPath: () => string, sea: boolean): Promise<Outcome> {
  // TSCNI_SYSTEM_PATH replaces the fallback dirs: for nodes with tools elsewhere, and to test a missing tool.
  const systemPath = env.TSCNI_SYSTEM_PATH || SYSTEM_PATH
  const pathEnv = env.PATH ? `${env.PATH}:${systemPath}` : systemPath
  if (invocation.kind === 'unknown') {
    return { stdout: '', stderr: `tscni: invoked as "${invocation.name}", which is not a role (${ROLE_NAMES.join(', ')}) or tscni\n`, exitCode: 2 }
  }
  if (invocation.kind === 'cli') {
    const { runCli } = await import('./cli/index.ts')
    return runCli(invocation.args, {
      env, selfPath: selfPath(), isSea: sea, pathEnv, nodeVersion: process.versions.node, startup: startupMode(), nativeState: () => ((loaded) => ({ loaded: loaded.native !== undefined, detail: describeNative(loaded) }))(loadNative(nativeSource(selfPath), env)), uid: process.getuid?.(), readStdin,
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
  const log = createLogger((line) => writeFully(2, line), `tscni-${role}`, levelFromEnv(env.TSCNI_LOG_LEVEL))
  log.debug(`start-up: ${startupMode()}`)
  let native: Native | undefined | null = null
  const nativeOnce = (): Native | undefined => {
    if (native !== null) return native
    const loaded = loadNative(nativeSource(selfPath), env)
    native = loaded.native
    log.debug(describeNative(loaded))
    return native
  }
  const sys = createSystem({ pathEnv, native: nativeOnce, netlink: env.TSCNI_NETLINK !== '0', now: monotonicMs, onRun: (cmd, args, ms) => log.debug(`${ms.toFixed(1)} ms: ${cmd} ${args.join(' ')}`) })
  let hostLocal: Promise<RoleHandlers> | undefined
  const loadHostLocal = (): Promise<RoleHandlers> => (hostLocal ??= ROLE_MODULES['host-local']())
  const handlers = role === 'host-local' ? await loadHostLocal() : await ROLE_MODULES[role]()
  const ipam = createDelegate({
    exec: sys.exec,
    env,
    // tscni-host-local is always ours; "host-local" is ours only when CNI_PATH resolves it to this executable
    // (or, for the tool's own in-process runs, always: the on-disk format is the reference's anyway).
    inProcess: async (type, cniPath) =>
      type === 'tscni-host-local' || (type === 'host-local' && (options.allInProcess || (await isSelf(type, cniPath, selfPath)))) ? loadHostLocal() : undefined,
  })
  const tracer = createTracer(monotonicMs)
  // TSCNI_STATE_DIR moves the records (tests, and nodes with another layout); a config's stateDir wins over both.
  const records = diskRecords(env.TSCNI_STATE_DIR || DEFAULT_STATE_DIR)
  const pause = envPause(env, (f) => writeFileSync(f, String(process.pid)))
  const record: InvocationRecord = {}
  const started = monotonicMs()
  const outcome = await runPlugin(handlers, {
    env,
    role,
    readStdin: stdin,
    sys,
    makeContext: (cniEnv, conf, raw) => ({ env: cniEnv, conf, stdin: raw, sys, ipam, log, trace: tracer, records, pause }),
  }, record)
  await writeInvocationLog({ env, role, record, steps: tracer.steps, totalMs: monotonicMs() - started, log })
  return outcome
}

// The addon: the single executable's asset, or tscni-native.node next to the bundle (dist/) for the .mjs.
function nativeSource(selfPath: () => string): NativeSource {
  return {
    bytes: () => (isSea() ? new Uint8Array(getRawAsset('tscni-native.node')) : readOptional(join(dirname(selfPath()), 'tscni-native.node'))),
    dlopen: (module, file) => process.dlopen(module, file),
  }
}

function describeNative(loaded: NativeLoad): string {
  return loaded.native ? 'native addon loaded: locks in-process' : `native addon not used (${loaded.reason}): flock(1) takes the locks`
}

function readOptional(file: string): Uint8Array | undefined {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

/** How this process started: the single executable's code cache (set by its loader), a snapshot, or plain Node. */
function startupMode(): string {
  const cache = (globalThis as { __tscniCodeCache?: string }).__tscniCodeCache
  if (cache) return `code cache ${cache}`
  return isSea() ? 'startup snapshot' : 'plain Node (no code cache)'
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

// One synchronous read of fd 0: the plugin has nothing else to do meanwhile, and creating process.stdin (a stream,
// its handle and the event-loop turns per chunk) costs more than the whole config. A non-blocking descriptor
// (EAGAIN) falls back to the stream.
async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8')
  } catch (err) {
    if ((err as { code?: string }).code !== 'EAGAIN') throw err
  }
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

// Milliseconds from process.hrtime: performance.now would load node:perf_hooks (~1 ms of every call) at first use.
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

// Straight to the descriptor rather than through process.stdout/stderr: creating those streams loads node:stream
// (node:net for a pipe), ~4 ms of every call, for output written once. On Linux both are synchronous anyway, so
// this keeps the order of anything the command-line tool printed through them. A non-blocking descriptor that is
// full (EAGAIN) is retried after a millisecond; a reader that went away (EPIPE) gets nothing, as with the streams.
function writeFully(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8')
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'EPIPE') return
      if (code !== 'EAGAIN') throw err
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}

function start(): void {
  main().catch((err: unknown) => {
    // Only reached on a bug in main itself; runPlugin already turns every verb failure into error JSON.
    writeFully(2, `tscni: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    writeFully(1, `${JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: `internal error: ${String(err)}` })}\n`)
    process.exitCode = 1
  })
}

// In the single executable built with a startup snapshot (TSCNI_SEA_MODE=snapshot), module initialisation happened
// at build time and start() runs when the snapshot is deserialised; otherwise it runs now. node:v8 is loaded only
// when the code-cache loader did not start us: loading it costs ~2 ms of every call (it pulls in node:stream).
const snapshot = (globalThis as { __tscniCodeCache?: string }).__tscniCodeCache ? undefined : process.getBuiltinModule('node:v8').startupSnapshot
if (snapshot?.isBuildingSnapshot()) snapshot.setDeserializeMainFunction(start)
else start()
