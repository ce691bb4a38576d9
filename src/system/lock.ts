// Exclusive advisory locks compatible with the reference host-local, which flock()s <netdir>/lock.
// Node has no flock binding, so util-linux flock(1) takes the lock on a file descriptor this process opened and
// hands to it as fd 3: the lock belongs to the shared open file description, so it stays held after flock(1)
// exits and is released when this process closes the descriptor (or exits, even if killed).
import { constants, promises as fs } from 'node:fs'
import type { Exec } from './exec.ts'
import { SystemError } from './errors.ts'

/** A held lock. */
export interface HeldLock {
  release(): Promise<void>
}

/** The lock port. */
export interface Locker {
  /**
   * Waits up to `timeoutMs` for an exclusive lock on `path` (created if missing). When the wait runs out: a
   * SystemError with reason 'again' (flock's EWOULDBLOCK), which plugin/errors.ts turns into CNI code 11.
   */
  acquire(path: string, timeoutMs: number): Promise<HeldLock>
}

/** flock(1)-based locks through the given command runner. */
export function createLocker(exec: Exec): Locker {
  return {
    async acquire(path, timeoutMs) {
      const handle = await fs.open(path, constants.O_RDONLY | constants.O_CREAT, 0o750)
      try {
        const seconds = Math.max(timeoutMs / 1000, 0.01).toFixed(2)
        const res = await exec.run('flock', ['--exclusive', '--wait', seconds, '3'], {
          extraFds: [handle.fd],
          allowFailure: true,
          timeoutMs: timeoutMs + 5000,
        })
        if (res.exitCode !== 0) {
          // flock(1) exits 1 when --wait ran out; anything else is another failure (a bad descriptor, say).
          const busy = res.exitCode === 1
          const why = busy ? `timed out after ${timeoutMs} ms waiting for the lock ${path}` : `cannot lock ${path}: flock exited with ${res.exitCode}${res.stderr.trim() ? `: ${res.stderr.trim()}` : ''}`
          throw new SystemError({ cmd: 'flock', args: [path], exitCode: res.exitCode, stderr: res.stderr, message: why, ...(busy ? { reason: 'again' as const } : {}) })
        }
      } catch (err) {
        await handle.close()
        throw err
      }
      let released = false
      return {
        async release() {
          if (released) return
          released = true
          await handle.close()
        },
      }
    },
  }
}
