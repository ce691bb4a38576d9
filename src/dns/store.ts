// The DNS role's files: a network's directory, its config, and one hosts file per attachment, written atomically;
// every directory it keeps files in checked first, and on the last DEL only its own files removed.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { hasErrno } from '../plugin/fs-errors.ts'
import { randomBytes } from '../plugin/random.ts'
import type { NetworkPaths } from './plan.ts'
import { untrustedDir } from './trust.ts'

// dnsmasq reads the hosts files after dropping to its unprivileged user: readable by all, writable by root only.
const DIR_MODE = 0o755
const FILE_MODE = 0o644
const TMP_PREFIX = '.tmp-'

// The accounts whose directories are trusted: root, and whoever runs this (root, when a runtime calls the plugin).
const trustedUids = (): readonly number[] => [0, process.geteuid?.() ?? 0]

/**
 * Creates the network's directory and its hosts directory, mode 0755 whatever the umask, and the data dir with its
 * missing parents. Refuses, before writing anything, a directory that is a symbolic link, is not owned by root, or
 * is writable by group or others: a planted `<dataDir>/<network> -> elsewhere` would otherwise get our files (and
 * its mode changed), and another account could swap them under dnsmasq.
 */
export async function ensureNetworkDirs(paths: NetworkPaths, dataDir: string): Promise<void> {
  await ensureDataDir(dataDir)
  await ensureOwnDir(paths.dir)
  await ensureOwnDir(paths.hostsDir)
}

/** The data dir (created with its parents when missing), checked as above; returns it without trailing slashes. */
export async function ensureDataDir(dataDir: string): Promise<string> {
  const dir = dataDir.replace(/\/+$/, '') || '/'
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE })
  await assertTrusted(dir)
  return dir
}

async function ensureOwnDir(path: string): Promise<void> {
  try {
    // mkdir(2) never follows a link in its last component: EEXIST for anything already there, checked below.
    await fs.mkdir(path, { mode: DIR_MODE })
    await fs.chmod(path, DIR_MODE)
    return
  } catch (err) {
    if (!hasErrno(err, 'EEXIST')) throw err
  }
  await assertTrusted(path)
}

async function assertTrusted(path: string): Promise<void> {
  const why = untrustedDir(await fs.lstat(path), trustedUids())
  if (why) throw new CniError(ErrorCode.IoFailure, `refusing to keep DNS files in ${path}: ${why}`, { details: path })
}

/**
 * Writes a file whole or not at all: a temporary file in the network directory (outside the hosts directory,
 * so dnsmasq never reads a half-written one), then rename(2), which dnsmasq's inotify watch sees as one event.
 */
export async function writeAtomic(paths: NetworkPaths, target: string, content: string): Promise<void> {
  const tmp = join(paths.dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`)
  const handle = await fs.open(tmp, 'wx', FILE_MODE)
  try {
    await handle.writeFile(content)
    await handle.chmod(FILE_MODE)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await fs.rename(tmp, target)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
}

/** A file's content, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  return fs.readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined
    throw err
  })
}

/** The attachment files of a network (file names); empty when the directory is gone. */
export async function listAttachmentFiles(paths: NetworkPaths): Promise<string[]> {
  return fs.readdir(paths.hostsDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return []
    throw err
  })
}

/** Removes a file; true when it existed. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await fs.unlink(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/**
 * Why the network's directory or its hosts directory must not be touched (a link, another owner, writable by
 * others), or undefined when they are the role's own or absent: DEL and GC remove files only from their own.
 */
export async function untrustedNetworkDirs(paths: NetworkPaths): Promise<string | undefined> {
  for (const dir of [paths.dir, paths.hostsDir]) {
    const st = await fs.lstat(dir).catch((err: unknown) => {
      if (hasErrno(err, 'ENOENT')) return undefined
      throw err
    })
    const why = st && untrustedDir(st, trustedUids())
    if (why) return `${dir}: ${why}`
  }
  return undefined
}

/**
 * Removes what the role wrote into a network's directory (the config, the pid file, the hosts files, temporary
 * files) and then the two directories if that left them empty. Never a recursive delete: a dataDir that is also
 * another tool's (host-local's /var/lib/cni/networks) keeps that tool's files and the directory holding them. A
 * directory that is not ours (a link, another owner) is left alone. Returns what was kept, for the log.
 */
export async function removeNetworkFiles(paths: NetworkPaths): Promise<string | undefined> {
  const dir = await fs.lstat(paths.dir).catch((err: unknown) => {
    if (hasErrno(err, 'ENOENT')) return undefined
    throw err
  })
  if (dir === undefined) return undefined
  const why = await untrustedNetworkDirs(paths)
  if (why) return why
  for (const file of await listAttachmentFiles(paths)) await removeFile(join(paths.hostsDir, file))
  await removeEmptyDir(paths.hostsDir)
  await removeFile(paths.conf)
  await removeFile(paths.pidFile)
  for (const file of await fs.readdir(paths.dir)) if (file.startsWith(TMP_PREFIX)) await removeFile(join(paths.dir, file))
  return (await removeEmptyDir(paths.dir)) ? undefined : `${paths.dir} (it holds files that are not the DNS server's)`
}

async function removeEmptyDir(path: string): Promise<boolean> {
  try {
    await fs.rmdir(path)
    return true
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return true
    if (hasErrno(err, 'ENOTEMPTY') || hasErrno(err, 'EEXIST') || hasErrno(err, 'ENOTDIR')) return false
    throw err
  }
}

/** The lock serialising one data dir's changes; it lives beside the network directories, which come and go. */
export async function lockPath(dataDir: string): Promise<string> {
  return join(await ensureDataDir(dataDir), 'lock')
}
