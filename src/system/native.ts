// Loads tscni's native addon (src/native/tscni-native.c): embedded in the single executable as an asset, written to
// a private temporary directory, dlopen()ed and removed again. When that fails (no asset, a read-only or noexec
// temporary directory) the caller falls back to the tools, and says so at debug level.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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
  let dir: string | undefined
  try {
    dir = mkdtempSync(join(env.TMPDIR || tmpdir(), 'tscni-native-'))
    const file = join(dir, 'tscni-native.node')
    writeFileSync(file, bytes, { mode: 0o500 })
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
