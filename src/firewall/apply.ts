// What both backends share: their dependencies, the firewall lock, and errors that show the failed script.
import { CniError, ErrorCode, normalizeError } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { Locker, Netfilter } from '../system/index.ts'
import type { FirewallIntent } from './model.ts'

/** Everything a backend object needs; handles stay inside the backend, never in method signatures. */
export interface BackendDeps {
  readonly netfilter: Netfilter
  readonly locker: Locker
  readonly log: Logger
  /** Serialises read → render → apply between tscni processes, so two ADDs never both add a shared rule. */
  readonly lockPath: string
  readonly lockTimeoutMs: number
}

/** Runs `fn` holding the firewall lock; a lock timeout is CNI code 11 (try again later). */
export async function locked<T>(deps: BackendDeps, fn: () => Promise<T>): Promise<T> {
  let lock
  try {
    lock = await deps.locker.acquire(deps.lockPath, deps.lockTimeoutMs)
  } catch (err) {
    if (isCommandFailure(err) && err.timedOut) {
      throw new CniError(ErrorCode.TryAgainLater, `timed out waiting for the firewall lock ${deps.lockPath}`, { cause: err })
    }
    throw err
  }
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}

/** A failed transaction as a CNI error: the tool's stderr and the whole script in `details`. */
export function applyError(what: string, script: string, err: unknown): CniError {
  const stderr = isCommandFailure(err) ? err.stderr : normalizeError(err).message
  const first = stderr.split('\n')[0] ?? ''
  return new CniError(ErrorCode.Internal, `${what} failed${first ? `: ${first}` : ''}`, {
    details: `${stderr}\n--- script ---\n${script}`,
    cause: err,
  })
}

/** CHECK's error when rules of the intent are missing: the first one named, every one in `details`. */
export function missingRulesError(intent: FirewallIntent, backend: string, missing: readonly string[]): CniError {
  const what = intent.kind === 'masquerade' ? 'ipMasq' : 'portmap'
  const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''
  return new CniError(ErrorCode.Internal, `${what} ${backend}rules for container ${intent.owner.containerId} on network "${intent.owner.network}" are missing: ${missing[0]}${more}`, { details: missing.join('\n') })
}

/** Runs a transaction; on failure re-reads the state and tries once more (someone may have changed it meanwhile). */
export async function applyWithRetry(
  what: string,
  render: () => Promise<string>,
  apply: (script: string) => Promise<void>,
  log: Logger,
): Promise<void> {
  const first = await render()
  if (first === '') return
  try {
    await apply(first)
    return
  } catch (err) {
    log.debug(`${what} failed, retrying on fresh state: ${normalizeError(err).message}`)
  }
  const second = await render()
  if (second === '') return
  try {
    await apply(second)
  } catch (err) {
    throw applyError(what, second, err)
  }
}

// firewall/ takes only types from system/, so a SystemError is recognised by its shape.
function isCommandFailure(err: unknown): err is { stderr: string; timedOut: boolean } {
  return err instanceof Error && err.name === 'SystemError' && typeof (err as { stderr?: unknown }).stderr === 'string'
}
