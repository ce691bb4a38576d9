// Loads tscni's native addon (src/native/tscni-native.c): embedded in the single executable as an asset, written to
// a private temporary directory, dlopen()ed and removed again. When that fails (no asset, a read-only or noexec
// temporary directory, no directory that only root controls) the caller falls back to the tools, and says so at
// debug level.
import { mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The addon's functions: only what Node lacks. Failures throw errors with `code` (errno name) and `errno`. */
export interface Native {
  /** A netlink socket (SOCK_RAW | SOCK_CLOEXEC) created inside the namespace at `netns` (null: this one). */
  netlinkSocket(netns: string | null, protocol: number): number
  /** open(2) of an existing file inside the namespace at `netns` (null: this one); /proc/sys/net follows the opener. */
  openInNetns(netns: string | null, path: string, flags: number): number
  /** flock(2) with LOCK_* bits. */
  flock(fd: number, operation: number): void
}

/** flock(2) operation bits (sys/file.h). */
export const LOCK_EX = 2
export const LOCK_NB = 4
export const LOCK_UN = 8

/** The addon, or why it is not there. */
export type NativeLoad = { readonly native: Native } | { readonly native?: undefined; readonly reason: string }

/** Where the addon's bytes come from: the executable's asset, or a file next to the bundle. */
export interface NativeSource {
  /** The addon image, or undefined when this build has none. */
  bytes(): Uint8Array | undefined
  /** Loads a shared object (process.dlopen). */
  dlopen(module: { exports: unknown }, file: string): void
}

/** Writes the image to a fresh 0700 directory, loads it and removes the file (the mapping stays). */
export function loadNative(source: NativeSource, env: Readonly<Record<string, string | undefined>>): NativeLoad {
  if (env.TSCNI_NATIVE === 'off') return { reason: 'TSCNI_NATIVE=off' }
  let bytes: Uint8Array | undefined
  try {
    bytes = source.bytes()
  } catch (err) {
    return { reason: `no addon in this build: ${(err as Error).message}` }
  }
  if (!bytes) return { reason: 'no addon in this build' }
  const base = safeTempBase([env.TMPDIR, '/tmp'], process.geteuid?.() ?? 0)
  if (base === undefined) return { reason: `neither TMPDIR (${env.TMPDIR ?? 'unset'}) nor /tmp is a directory only root can change` }
  let dir: string | undefined
  try {
    dir = mkdtempSync(join(base, 'tscni-native-'))
    const file = join(dir, 'tscni-native.node')
    writeFileSync(file, bytes, { mode: 0o500, flag: 'wx' })
    const mod: { exports: Partial<Native> } = { exports: {} }
    source.dlopen(mod, file)
    const n = mod.exports
    if (typeof n.netlinkSocket !== 'function' || typeof n.openInNetns !== 'function' || typeof n.flock !== 'function') {
      return { reason: 'the addon lacks its functions' }
    }
    return { native: n as Native }
  } catch (err) {
    return { reason: `cannot load the addon from ${dir ?? 'a temporary directory'}: ${(err as Error).message}` }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The first candidate under which the addon may be written and dlopen()ed: its real path, and every directory above
 * it, owned by root (or `uid`) and writable by no one else, unless sticky (/tmp), where others cannot rename or
 * remove our entries. Otherwise another account could swap the file, or our 0700 directory, between the write and
 * dlopen(), and run code as root: a TMPDIR the runtime passes is used only when it passes.
 */
export function safeTempBase(candidates: ReadonlyArray<string | undefined>, uid: number): string | undefined {
  for (const candidate of candidates) {
    if (!candidate || !candidate.startsWith('/')) continue
    try {
      const real = realpathSync(candidate)
      let ok = true
      for (let d = real; ok; d = dirname(d)) {
        const st = statSync(d)
        const sharedWritable = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0
        ok = st.isDirectory() && (st.uid === 0 || st.uid === uid) && !sharedWritable
        if (d === '/') break
      }
      if (ok) return real
    } catch {
      // a candidate that does not exist or cannot be examined is skipped
    }
  }
  return undefined
}
