// `tscni install`: puts the executable into a CNI bin directory and links its role names to it, without ever
// silently replacing a file that is not tscni (such as the reference plugins).
import { promises as fs } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Outcome } from '../plugin/dispatch.ts'
import { randomBytes } from '../plugin/random.ts'
import { unsafeBinDir } from './bin-dir-trust.ts'
import type { CliIo } from './io.ts'
import { isOwnExecutable } from './own-executable.ts'
import { parseOptions } from './options.ts'

const TSCNI_ROLES = ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback', 'tscni-dnsname', 'tscni-tuning', 'tscni-bandwidth', 'tscni-firewall']
const STANDARD_ROLES = ['bridge', 'host-local', 'portmap', 'loopback', 'dnsname', 'tuning', 'bandwidth', 'firewall']

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

  // The runtime executes these files as root: a directory someone else can write lets them swap the plugin.
  const unsafe = opts.force ? [] : await unsafeBinDir(opts.binDir, io.uid ?? 0)
  if (unsafe.length > 0) {
    return {
      stdout: '',
      stderr: `tscni install: refusing to install into ${opts.binDir}: another account could replace what the runtime executes as root:\n${unsafe.map((u) => `  ${u}\n`).join('')}Fix the ownership or mode, or run again with --force.\n`,
      exitCode: 1,
    }
  }

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
    // Copy, flush, then rename: a runtime executing the old file meanwhile never sees a half-written one, and a
    // crash right after the rename leaves the whole new file, not an empty one under the right name.
    const tmp = join(opts.binDir, `.tscni.tmp-${randomBytes(16).toString('hex')}`)
    await fs.copyFile(source, tmp, fs.constants.COPYFILE_EXCL)
    await fs.chmod(tmp, 0o755)
    await syncPath(tmp)
    await fs.rename(tmp, target)
    done.push(`installed ${target} (from ${source})`)
  } else {
    done.push(`${target} is already this executable`)
  }
  for (const name of links) {
    // A new link under a temporary name renamed over the old one: the name always resolves, never "not found"
    // to a runtime calling the plugin meanwhile (rm then symlink had a gap).
    const link = join(opts.binDir, name)
    const tmp = join(opts.binDir, `.${name}.tmp-${randomBytes(8).toString('hex')}`)
    await fs.symlink('tscni', tmp)
    await fs.rename(tmp, link).catch(async (err: unknown) => {
      await fs.rm(tmp, { force: true })
      throw err
    })
    done.push(`linked ${link} -> tscni`)
  }
  await syncPath(opts.binDir)
  if (!source.endsWith('/tscni')) done.push('note: installed the bundle; it needs Node 24 as "node" on the PATH the runtime passes to plugins')
  return { stdout: done.map((line) => `${line}\n`).join(''), stderr: '', exitCode: 0 }
}

// Prefer the single executable: runtimes exec plugins with a minimal environment where no node may be found.
async function pickSource(io: CliIo): Promise<string> {
  if (io.isSea) return io.selfPath
  const sibling = join(dirname(io.selfPath), 'tscni')
  return (await isOwnExecutable(sibling)) ? sibling : io.selfPath
}

async function kindOf(path: string): Promise<'absent' | 'ours' | 'foreign'> {
  try {
    const st = await fs.lstat(path)
    if (st.isSymbolicLink()) return (await fs.readlink(path)) === 'tscni' ? 'ours' : 'foreign'
  } catch {
    return 'absent'
  }
  return (await isOwnExecutable(path)) ? 'ours' : 'foreign'
}

// fsync(2) of a file or directory (the directory: its new entries survive a crash).
async function syncPath(path: string): Promise<void> {
  const handle = await fs.open(path, 'r')
  try {
    await handle.sync()
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
