// The firewall lock: one tscni process at a time reads, renders and applies firewall state on a node.
import type { Locker } from '../system/index.ts'

/** Where the lock lives on a real node, and how long a verb waits for it before failing with code 11. */
export const FIREWALL_LOCK_PATH = '/run/tscni-firewall.lock'
export const FIREWALL_LOCK_TIMEOUT_MS = 20_000

/** What taking the lock needs. */
export interface LockDeps {
  readonly locker: Locker
  /** Serialises read → render → apply between tscni processes, so two ADDs never both add a shared rule. */
  readonly lockPath: string
  readonly lockTimeoutMs: number
}

/** The lock of a real node (the backends built by createFirewall use it unless told otherwise). */
export function nodeLock(locker: Locker): LockDeps {
  return { locker, lockPath: FIREWALL_LOCK_PATH, lockTimeoutMs: FIREWALL_LOCK_TIMEOUT_MS }
}

/**
 * Runs `fn` holding the firewall lock. A wait that runs out rejects with the locker's SystemError, which
 * normalizeError (plugin/errors.ts) makes CNI code 11, "try again later".
 */
export async function locked<T>(deps: LockDeps, fn: () => Promise<T>): Promise<T> {
  const lock = await deps.locker.acquire(deps.lockPath, deps.lockTimeoutMs)
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}
