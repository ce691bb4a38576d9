// A cgroup parent of its own for the containers one test starts, so cleanup finds and kills every one of them (they
// live in mount namespaces of their own, out of reach of the runtime's) even when the runtime failed.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

export interface CgroupParent {
  /** The path to give the runtime, e.g. `/tscni-test-1a2b3c4d`. */
  readonly path: string
  /** Processes still in it or below. */
  pids(): number[]
  /** Kills every process in it or below; never throws. */
  killAll(): void
  /** Removes the cgroups (leaves first), once their processes are gone; never throws. */
  removeDirs(): void
  /** killAll, then removeDirs. */
  removeAll(): void
}

export function makeCgroupParent(): CgroupParent {
  const path = `/tscni-test-${randomBytes(4).toString('hex')}`
  const dirs = () => {
    const base = '/sys/fs/cgroup'
    if (existsSync(join(base, 'cgroup.controllers'))) return [join(base, path)].filter((d) => existsSync(d))
    return readdirSync(base).map((h) => join(base, h, path)).filter((d) => existsSync(d))
  }
  const pids = () => dirs().flatMap(procsBelow)
  const killAll = () => {
    for (const pid of pids()) tryKill(pid)
  }
  const removeDirs = () => {
    for (const d of dirs()) {
      // A process still exiting keeps its cgroup busy for a moment: one retry after a pause.
      for (let i = 0; i < 2; i++) {
        try {
          execFileSync('find', [d, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' })
          break
        } catch {
          execFileSync('sleep', ['0.5'])
        }
      }
    }
  }
  return {
    path,
    pids,
    killAll,
    removeDirs,
    removeAll() {
      killAll()
      removeDirs()
    },
  }
}

function procsBelow(dir: string): number[] {
  const out: number[] = []
  const walk = (d: string) => {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (line) out.push(Number(line))
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name))
    } catch {
      // removed meanwhile
    }
  }
  walk(dir)
  return out
}

/** SIGKILL, ignoring a process that is already gone. */
export function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
