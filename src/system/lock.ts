// Exclusive advisory locks compatible with the reference host-local, which flock()s <netdir>/lock.
// With the native addon, flock(2) is called in-process (non-blocking, retried until the timeout). Without it,
// util-linux flock(1) takes the lock on a file descriptor this process opened and
// hands to it as fd 3: the lock belongs to the shared open file description, so it stays held after flock(1)
// exits and is released when this process closes the descriptor (or exits, even if killed).
import { closeSync, constants, openSync } from 'node:fs'
import type { Exec } from './exec.ts'
import { SystemError } from './errors.ts'
import { reasonFromErrno } from './failure.ts'
import { LOCK_EX, LOCK_NB, type Native } from './native.ts'

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

/**
 * Locks through the addon's flock(2) when `native` yields it (asked at the first lock, so a verb that takes none
 * never loads the addon), else flock(1) through the command runner.
 */
export function createLocker(exec: Exec, native: () => Native | undefined = () => undefined): Locker {
  let chosen: Locker | undefined
  return {
    acquire(path, timeoutMs) {
      chosen ??= ((n) => (n ? nativeLocker(n) : toolLocker(exec)))(native())
      return chosen.acquire(path, timeoutMs)
    },
  }
}

// Polling rather than a blocking flock(2): a blocked main thread could not honour the timeout. The first retries
// come quickly (a holder usually needs a few milliseconds), later ones every 10 ms.
function nativeLocker(native: Native): Locker {
  return {
    async acquire(path, timeoutMs) {
      const fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o750)
      // Date.now, not performance.now: its first use loads node:perf_hooks (~1 ms), and a timeout needs no more.
      const deadline = Date.now() + timeoutMs
      for (let wait = 1; ; wait = Math.min(wait * 2, 10)) {
        try {
          native.flock(fd, LOCK_EX | LOCK_NB)
          break
        } catch (err) {
          const code = (err as { code?: string }).code
          const busy = code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR'
          if (!busy || Date.now() >= deadline) {
            closeSync(fd)
            throw new SystemError({
              cmd: 'flock', args: [path], reason: busy ? 'again' : reasonFromErrno(code ?? ''), cause: err,
              message: busy ? `timed out after ${timeoutMs} ms waiting for the lock ${path}` : `cannot lock ${path}: ${(err as Error).message}`,
            })
          }
          await new Promise((resolve) => setTimeout(resolve, wait))
        }
      }
      return released(fd)
    },
  }
}

function released(fd: number): HeldLock {
  let done = false
  return {
    async release() {
      if (done) return
      done = true
      closeSync(fd)
    },
  }
}

function toolLocker(exec: Exec): Locker {
  return {
    async acquire(path, timeoutMs) {
      const fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o750)
      try {
        const seconds = Math.max(timeoutMs / 1000, 0.01).toFixed(2)
        const res = await exec.run('flock', ['--exclusive', '--wait', seconds, '3'], {
          extraFds: [fd],
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
        closeSync(fd)
        throw err
      }
      return released(fd)
    },
  }
}
