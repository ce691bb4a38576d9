// What the command-line tool gets from main.ts: the process's environment, output and the in-process role runner.
// Its own module so that every command (and the node agent's) can name it without importing the dispatcher.
import type { Outcome } from '../plugin/dispatch.ts'
import type { RoleName } from '../plugin/role.ts'

/** What the command-line tool gets from main.ts. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>
  /** The real path of this executable (the single executable, or the bundle). */
  readonly selfPath: string
  readonly isSea: boolean
  readonly pathEnv: string
  readonly nodeVersion: string
  /** How this process started ("code cache accepted", "startup snapshot", ...), for doctor. */
  readonly startup?: string
  /** Whether the native addon loads here, for doctor ("addon loaded" or why not). */
  readonly nativeState?: () => { readonly loaded: boolean; readonly detail: string }
  /** Writes to stdout at once (long-running commands such as `reconcile --watch`; others return their output). */
  print(text: string): void
  /** Reads this process's stdin (for `--valid -`). */
  readStdin(): Promise<string>
  /** Runs one CNI verb of a role in-process, exactly as an invocation of its executable would. */
  runRole(role: RoleName, env: Readonly<Record<string, string | undefined>>, stdin: string): Promise<Outcome>
  /** This process's user id (doctor warns when it is not root). */
  readonly uid?: number | undefined
  /** Writes to stderr at once (a long-running command's log); Outcome.stderr is written only at the end. */
  readonly writeStderr?: (text: string) => void
  /** A signal aborted by SIGTERM or SIGINT, which then stop the command instead of the process (tscni node run). */
  onShutdown?(): AbortSignal
}
