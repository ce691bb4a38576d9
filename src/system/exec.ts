// Runs external commands (optionally inside a network namespace) and turns failures into SystemError.
// node:child_process rather than execa on this path: measured on Node 24, execa adds ~16 ms to every plugin
// invocation (module load plus first-call set-up) for no feature this layer needs. Tests and tools use execa.
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { SystemError } from './errors.ts'

/** How to run one command. */
export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string
  /** Run inside this network namespace (a path such as /run/netns/x or /proc/PID/ns/net) via nsenter. */
  readonly netns?: string
  /** Kill the command after this long (default 30 s, so a wedged tool cannot hang a runtime forever). */
  readonly timeoutMs?: number
  /** Resolve with the exit code instead of throwing when the command fails. */
  readonly allowFailure?: boolean
  /** The child's whole environment; by default only PATH and LC_ALL=C, so tool output is predictable. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Extra file descriptors for the child, starting at fd 3. */
  readonly extraFds?: readonly number[]
}

/** What a finished command printed and how it ended. */
export interface RunResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

/** The command runner port. */
export interface Exec {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

/** How the kernel work of a call is timed for debug logs: each command (or netlink batch) and its duration. */
export interface RunTiming {
  /** Called after every command with its duration. */
  readonly onRun?: (cmd: string, args: readonly string[], ms: number) => void
  /** A monotonic clock in ms for those durations (default Date.now). */
  readonly now?: () => number
}

const DEFAULT_TIMEOUT_MS = 30_000

/**
 * The real runner. `pathEnv` is the PATH to search (runtimes may exec plugins with an empty environment); `now`,
 * a clock in ms, times each command for `onRun` (see plugin/trace.ts for why not performance.now).
 */
export function createExec(pathEnv: string, onRun?: (cmd: string, args: readonly string[], ms: number) => void, now: () => number = Date.now): Exec {
  return {
    run(cmd, args, options = {}) {
      const [file, argv] = options.netns ? ['nsenter', [`--net=${options.netns}`, '--', cmd, ...args]] : [cmd, args]
      const started = now()
      return spawnCollect(file, argv, options, pathEnv).then((res) => {
        onRun?.(file, argv, now() - started)
        if (res.exitCode !== 0 && !options.allowFailure) {
          throw new SystemError({ cmd: file, args: argv, exitCode: res.exitCode, stderr: res.stderr })
        }
        return res
      })
    },
  }
}

// node:child_process is loaded at the first command, not at start-up: it pulls in node:net and node:stream, ~3 ms
// that a call running no command (VERSION, a refused config, the netlink path's bridge ADD) need not pay.
let spawnFn: ((file: string, args: readonly string[], options: SpawnOptions) => ChildProcess) | undefined

async function spawnCollect(file: string, argv: readonly string[], options: RunOptions, pathEnv: string): Promise<RunResult> {
  const spawn = (spawnFn ??= (await import('node:child_process')).spawn)
  return new Promise((resolve, reject) => {
    const extra = options.extraFds ?? []
    const child = spawn(file, argv, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...extra],
      env: options.env ?? { PATH: pathEnv, LC_ALL: 'C' },
    })
    // Our own timer rather than spawn's `timeout`: Node clears that one only on 'exit', which a spawn failure
    // (a missing tool: ENOENT) never emits, so the process lingered for the whole timeout (nodejs/node#65504).
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    child.on('error', (cause) => {
      clearTimeout(timer)
      reject(new SystemError({ cmd: file, args: argv, message: `cannot run ${file}: ${cause.message}`, cause }))
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      const stderr = Buffer.concat(err).toString('utf8')
      if (timedOut) {
        reject(new SystemError({ cmd: file, args: argv, stderr, timedOut: true }))
        return
      }
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr, exitCode: code ?? 128 })
    })
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}) // the command may exit before reading everything; its exit status says why
      child.stdin!.end(options.input)
    }
  })
}
