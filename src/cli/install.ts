// `tscni install`: puts the executable into a CNI bin directory and links its role names to it, without ever
// silently replacing a file that is not tscni (such as the reference plugins).
import { constants, promises as fs } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Outcome } from '../plugin/dispatch.ts'
import { randomBytes } from '../plugin/random.ts'
import type { CliIo } from './index.ts'
import { parseOptions } from './options.ts'

// Present in every tscni build (bundle and single executable), so install can recognise its own files.
const MARKER = 'tscni-multicall-executable-marker-v1'
const TSCNI_ROLES = ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback', 'tscni-dnsname', 'tscni-tuning', 'tscni-firewall']
const STANDARD_ROLES = ['bridge', 'host-local', 'portmap', 'loopback', 'dnsname', 'tuning', 'firewall']

/** Parsed `install` arguments. */
export interface InstallOptions {
  readonly binDir: string
  readonly standardNames: boolean
  readonly force: boolean
}

/** Parses the arguments; a string is a usage error. */
export function parseInstallArgs(args: readonly string[]): InstallOptions | string {
  const opts = parseOptions(args, { values: ['--bin-dir'], flags: ['--standard-names', '--force'] })
  if (typeof opts === 'string') return opts
  const binDir = opts.values['--bin-dir']
  if (!binDir) return '--bin-dir DIR is required (for example --bin-dir /opt/cni/bin)'
  return { binDir, standardNames: opts.flags.has('--standard-names'), force: opts.flags.has('--force') }
}

/** Runs `tscni install`. */
export async function runInstall(args: readonly string[], io: CliIo): Promise<Outcome> {
  const opts = parseInstallArgs(args)
  if (typeof opts === 'string') return { stdout: '', stderr: `tscni install: ${opts}\n`, exitCode: 2 }
  const source = await pickSource(io)
  const target = join(opts.binDir, 'tscni')
  const links = [...TSCNI_ROLES, ...(opts.standardNames ? STANDARD_ROLES : [])]

  const conflicts: string[] = []
  if (!opts.force) {
    if ((await kindOf(target)) === 'foreign') conflicts.push(target)
    for (const name of links) if ((await kindOf(join(opts.binDir, name))) === 'foreign') conflicts.push(join(opts.binDir, name))
  }
  if (conflicts.length > 0) {
    return {
      stdout: '',
      stderr: `tscni install: refusing to replace files that are not tscni:\n${conflicts.map((c) => `  ${c}\n`).join('')}Move them away, or run again with --force to replace them.\n`,
      exitCode: 1,
    }
  }

  const done: string[] = []
  await fs.mkdir(opts.binDir, { recursive: true, mode: 0o755 })
  if (!(await sameFile(source, target))) {
    // Copy then rename: a runtime executing the old file meanwhile never sees a half-written one.
    const tmp = join(opts.binDir, `.tscni.tmp-${randomBytes(16).toString('hex')}`)
    await fs.copyFile(source, tmp)
    await fs.chmod(tmp, 0o755)
    await fs.rename(tmp, target)
    done.push(`installed ${target} (from ${source})`)
  } else {
    done.push(`${target} is already this executable`)
  }
  for (const name of links) {
    const link = join(opts.binDir, name)
    await fs.rm(link, { force: true })
    await fs.symlink('tscni', link)
    done.push(`linked ${link} -> tscni`)
  }
  if (!source.endsWith('/tscni')) done.push('note: installed the bundle; it needs Node 24 as "node" on the PATH the runtime passes to plugins')
  return { stdout: done.map((line) => `${line}\n`).join(''), stderr: '', exitCode: 0 }
}

// Prefer the single executable: runtimes exec plugins with a minimal environment where no node may be found.
async function pickSource(io: CliIo): Promise<string> {
  if (io.isSea) return io.selfPath
  const sibling = join(dirname(io.selfPath), 'tscni')
  return (await isOurs(sibling)) ? sibling : io.selfPath
}

async function kindOf(path: string): Promise<'absent' | 'ours' | 'foreign'> {
  try {
    const st = await fs.lstat(path)
    if (st.isSymbolicLink()) return (await fs.readlink(path)) === 'tscni' ? 'ours' : 'foreign'
  } catch {
    return 'absent'
  }
  return (await isOurs(path)) ? 'ours' : 'foreign'
}

/** True when the file contains the tscni marker (read in chunks: the single executable is ~120 MB). */
export async function isOurs(path: string): Promise<boolean> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(path, constants.O_RDONLY)
  } catch {
    return false
  }
  try {
    const marker = Buffer.from(MARKER)
    const chunk = Buffer.alloc(4 << 20)
    let carry = Buffer.alloc(0)
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) return false
      const window = Buffer.concat([carry, chunk.subarray(0, bytesRead)])
      if (window.includes(marker)) return true
      carry = window.subarray(Math.max(0, window.length - marker.length + 1))
    }
  } finally {
    await handle.close()
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([fs.stat(a), fs.stat(b)])
    return x.ino === y.ino && x.dev === y.dev
  } catch {
    return false
  }
}
