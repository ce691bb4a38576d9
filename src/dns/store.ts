// The DNS role's files: a network's directory, its config, and one hosts file per attachment, written atomically.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from '../plugin/random.ts'
import type { NetworkPaths } from './plan.ts'

// dnsmasq reads the hosts files after dropping to its unprivileged user: readable by all, writable by root only.
const DIR_MODE = 0o755
const FILE_MODE = 0o644

/** Creates the network's directories (and missing parents) root-owned, mode 0755 whatever the umask. */
export async function ensureNetworkDirs(paths: NetworkPaths): Promise<void> {
  await fs.mkdir(paths.hostsDir, { recursive: true, mode: DIR_MODE })
  await Promise.all([fs.chmod(paths.dir, DIR_MODE), fs.chmod(paths.hostsDir, DIR_MODE)])
}

/**
 * Writes a file whole or not at all: a temporary file in the network directory (outside the hosts directory,
 * so dnsmasq never reads a half-written one), then rename(2), which dnsmasq's inotify watch sees as one event.
 */
export async function writeAtomic(paths: NetworkPaths, target: string, content: string): Promise<void> {
  const tmp = join(paths.dir, `.tmp-${randomBytes(6).toString('hex')}`)
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

/** Removes a network's directory and everything in it. */
export async function removeNetworkDir(paths: NetworkPaths): Promise<void> {
  await fs.rm(paths.dir, { recursive: true, force: true })
}

/** The lock serialising one data dir's changes; it lives beside the network directories, which come and go. */
export async function lockPath(dataDir: string): Promise<string> {
  const dir = dataDir.replace(/\/+$/, '') || '/'
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE })
  return join(dir, 'lock')
}

