// The one error type of the system layer: a command that failed, with everything needed to explain it.
import { classifyFailure, type FailureReason } from './failure.ts'

/** A failed external command or system call. Never printed raw: plugin/errors.ts turns it into a CNI error. */
export class SystemError extends Error {
  readonly cmd: string
  readonly args: readonly string[]
  readonly exitCode: number | undefined
  readonly stderr: string
  /** Why it failed (failure.ts): given by the thrower when it knows (an errno, a lock's wait ran out), else parsed. */
  readonly reason: FailureReason

  constructor(init: {
    cmd: string
    args: readonly string[]
    exitCode?: number | undefined
    stderr?: string
    timedOut?: boolean
    reason?: FailureReason
    message?: string
    cause?: unknown
  }) {
    const stderr = (init.stderr ?? '').trim()
    const why = init.timedOut ? 'timed out' : init.exitCode === undefined ? 'could not run' : `exit status ${init.exitCode}`
    super(init.message ?? `${init.cmd} failed (${why})${stderr ? `: ${firstLine(stderr)}` : ''}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'SystemError'
    this.cmd = init.cmd
    this.args = init.args
    this.exitCode = init.exitCode
    this.stderr = stderr
    this.reason = init.reason ?? classifyFailure({ exitCode: init.exitCode, stderr, timedOut: init.timedOut })
  }

  /** True when this process killed the command after its time limit. */
  get timedOut(): boolean {
    return this.reason === 'timed-out'
  }

  /** The command line and what it printed on stderr, for the `details` of a CNI error. */
  describe(): string {
    const line = [this.cmd, ...this.args].join(' ')
    return this.stderr ? `${line}\n${this.stderr}` : line
  }
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n')
  return nl === -1 ? text : text.slice(0, nl)
}
