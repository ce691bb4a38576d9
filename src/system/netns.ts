// Facts about network namespace paths, read with stat/statfs (no process spawned; synchronous, microseconds each).
import { statfsSync, statSync } from 'node:fs'

/** What a CNI_NETNS path turned out to be. */
export type NetnsState = 'ok' | 'missing' | 'not-netns'

// statfs f_type of nsfs (linux/magic.h NSFS_MAGIC): a bind-mounted or /proc namespace file.
const NSFS_MAGIC = 0x6e736673
// /proc/PID/ns/net entries report the proc filesystem until opened; both are valid netns references.
const PROC_SUPER_MAGIC = 0x9fa0

/** Namespace path checks. */
export interface Netns {
  state(path: string): Promise<NetnsState>
  /** True when the path is the namespace this process runs in (acting there would touch the host). */
  isOwn(path: string): Promise<boolean>
}

/** The real checks. */
export function createNetns(): Netns {
  return {
    async state(path) {
      try {
        const st = statfsSync(path)
        if (st.type === NSFS_MAGIC || (st.type === PROC_SUPER_MAGIC && /^\/proc\/[^/]+\/(task\/\d+\/)?ns\/net$/.test(path))) return 'ok'
        return 'not-netns'
      } catch {
        return 'missing'
      }
    },
    async isOwn(path) {
      try {
        const [a, b] = [statSync(path), statSync('/proc/self/ns/net')]
        return a.ino === b.ino && a.dev === b.dev
      } catch {
        return false
      }
    },
  }
}
