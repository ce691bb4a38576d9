// Whether a CNI bin directory is safe to install into: only root (or the installing account) may change it or any
// directory above it, since whoever can rename an entry can replace the executable the runtime runs as root.
import { promises as fs } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** What of a directory's stat(2) the rule reads. */
export interface DirStat {
  readonly uid: number
  readonly mode: number
}

const STICKY = 0o1000

/**
 * Why the directory `path` (the bin dir when `isBinDir`, else one above it) is unsafe, or undefined. Group- or
 * world-writable is unsafe; above the bin dir a sticky directory (/tmp) is fine, since others may not rename or
 * remove entries they do not own there. Pure.
 */
export function unsafeDir(path: string, st: DirStat, uid: number, isBinDir: boolean): string | undefined {
  if (st.uid !== 0 && st.uid !== uid) return `${path} is owned by uid ${st.uid}, not root`
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0')
  if ((st.mode & 0o022) !== 0 && (isBinDir || (st.mode & STICKY) === 0)) return `${path} is writable by group or others (mode ${mode})`
  return undefined
}

/**
 * The problems of a bin dir and every directory above it (after resolving links, as the kernel walks the path); a
 * bin dir that does not exist yet is judged by its nearest existing ancestor, under which it will be created 0755.
 */
export async function unsafeBinDir(binDir: string, uid: number): Promise<string[]> {
  let existing = resolve(binDir)
  let isBinDir = true
  for (;;) {
    try {
      existing = await fs.realpath(existing)
      break
    } catch {
      if (existing === '/') return []
      existing = dirname(existing)
      isBinDir = false
    }
  }
  const problems: string[] = []
  for (let dir = existing, first = true; ; dir = dirname(dir), first = false) {
    const why = unsafeDir(dir, await fs.stat(dir), uid, first && isBinDir)
    if (why) problems.push(why)
    if (dir === '/') return problems
  }
}
