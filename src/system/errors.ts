// The one error type of the system layer: a command that failed, with everything needed to explain it.

/** A failed external command or system call. Never printed raw: plugin/errors.ts turns it into a CNI error. */
export class SystemError extends Error {
  readonly cmd: string
  readonly args: readonly string[]
  readonly exitCode: number | undefined
  readonly stderr: string
  readonly timedOut: boolean
  /** The errno name ("EEXIST", "ENODEV", ...) when the failure came from a system call rather than a command. */
  readonly errno: string | undefined

  constructor(init: {
    cmd: string
    args: readonly string[]
    exitCode?: number | undefined
    stderr?: string
    timedOut?: boolean
    message?: string
    cause?: unknown
    errno?: string
  }) {
    const stderr = (init.stderr ?? '').trim()
    const why = init.timedOut ? 'timed out' : init.exitCode === undefined ? 'could not run' : `exit status ${init.exitCode}`
    super(init.message ?? `${init.cmd} failed (${why})${stderr ? `: ${firstLine(stderr)}` : ''}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'SystemError'
    this.cmd = init.cmd
    this.args = init.args
    this.exitCode = init.exitCode
    this.stderr = stderr
    this.timedOut = init.timedOut ?? false
    this.errno = init.errno
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
