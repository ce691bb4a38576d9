// host-local reservations on disk, byte-compatible with the reference (backend/disk/backend.go): one file per address;
// failures name the path and the cause.
import { accessSync, closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { formatIp, parseIp, type Ip } from '../plugin/addr.ts'
import { CniError, ErrorCode, fileError } from '../plugin/errors.ts'
import { hasErrno, isErrno } from '../plugin/fs-errors.ts'
import type { Locker } from '../system/index.ts'
import type { StoreLocation } from './config.ts'
import { ownerKey, type NetworkStore, type Owner, type Reservation, type Unlock } from './store.ts'

const LAST_RESERVED_PREFIX = 'last_reserved_ip.'
const LOCK_FILE = 'lock'
/** How long a verb waits for the network lock before answering "try again later" (code 11). */
export const LOCK_TIMEOUT_MS = 30_000

/**
 * `<dataDir>/<network>/`: `<ip>` files holding `<containerID>\r\n<ifname>` (created O_EXCL, the reservation itself),
 * `last_reserved_ip.<rangeID>`, and `lock`, flock()ed by us (through the Locker) and by the reference alike.
 * Synchronous file calls: the plugin process has nothing else to do meanwhile, and they cost a fraction of the
 * thread-pool versions.
 */
export class DiskStore implements NetworkStore {
  /** The network directory. */
  readonly dir: string
  private readonly locker: Locker
  private readonly lockTimeoutMs: number

  constructor(location: StoreLocation, locker: Locker, lockTimeoutMs = LOCK_TIMEOUT_MS) {
    this.dir = networkDir(location)
    this.locker = locker
    this.lockTimeoutMs = lockTimeoutMs
  }

  /** Creates the network directory (mode 0755, with parents) as the reference does on every verb. */
  ensureDir(): void {
    try {
      makeDirs(this.dir)
    } catch (err) {
      throw fileError(`failed to create the data directory ${this.dir}`, this.dir, err)
    }
  }

  /** True when the network directory exists (DEL, CHECK and GC need not create it). */
  exists(): boolean {
    try {
      return statSync(this.dir).isDirectory()
    } catch {
      return false
    }
  }

  /** Throws when the directory cannot be created or written (for STATUS). */
  assertWritable(): void {
    this.ensureDir()
    try {
      accessSync(this.dir, constants.W_OK)
    } catch (err) {
      throw fileError(`the data directory ${this.dir} is not writable`, this.dir, err)
    }
  }

  async lock(): Promise<Unlock> {
    const path = join(this.dir, LOCK_FILE)
    try {
      const held = await this.locker.acquire(path, this.lockTimeoutMs)
      return () => held.release()
    } catch (err) {
      // A wait that runs out is a SystemError that normalizeError makes code 11; a lock file that cannot be
      // opened (read-only, permission) is an errno error named here.
      throw isErrno(err) ? fileError(`failed to open the lock file ${path}`, path, err) : err
    }
  }

  reservations(): Reservation[] {
    const out: Reservation[] = []
    for (const name of this.names()) {
      const ip = addressFileName(name)
      if (!ip) continue
      try {
        out.push({ ip, content: readFileSync(join(this.dir, name), 'utf8').trim() })
      } catch (err) {
        // Released meanwhile by a writer that does not lock, or not a regular file: not a reservation we can read.
        if (!hasErrno(err, 'ENOENT') && !hasErrno(err, 'EISDIR')) throw fileError('failed to read a reservation', join(this.dir, name), err)
      }
    }
    return out
  }

  /** Only the reserved addresses (names, no contents): what STATUS needs. */
  reservedAddresses(): Ip[] {
    return this.names().flatMap((name) => addressFileName(name) ?? [])
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir)
    } catch (err) {
      throw fileError('failed to list the reservations', this.dir, err)
    }
  }

  reserve(ip: Ip, owner: Owner): boolean {
    const path = this.pathOf(ip)
    let fd: number
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600)
    } catch (err) {
      if (hasErrno(err, 'EEXIST')) {
        // Something else at a reservation's path (a directory, say) is no reservation anyone can release: naming
        // it beats skipping the address silently forever.
        if (!isRegularFile(path)) throw new CniError(ErrorCode.IoFailure, `failed to reserve ${formatIp(ip)}: ${path} exists and is not a regular file (a directory?): remove it`)
        return false
      }
      throw fileError(`failed to reserve ${formatIp(ip)}`, path, err)
    }
    try {
      writeSync(fd, ownerKey(owner))
      closeSync(fd)
    } catch (err) {
      try {
        closeSync(fd)
      } catch {
        // already closed
      }
      try {
        unlinkSync(path)
      } catch {
        // The write failed (a full disk, say) and so may the unlink: the write's cause is what matters.
      }
      throw fileError(`failed to reserve ${formatIp(ip)}`, path, err)
    }
    return true
  }

  release(ip: Ip): void {
    try {
      unlinkSync(this.pathOf(ip))
    } catch (err) {
      if (!hasErrno(err, 'ENOENT')) throw fileError(`failed to release ${formatIp(ip)}`, this.pathOf(ip), err)
    }
  }

  lastReserved(rangeId: number): Ip | undefined {
    try {
      return parseIp(readFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeId}`), 'utf8').trim())
    } catch {
      return undefined // missing or unreadable: round-robin restarts from the beginning, as in the reference
    }
  }

  setLastReserved(rangeId: number, ip: Ip): void {
    const path = join(this.dir, `${LAST_RESERVED_PREFIX}${rangeId}`)
    try {
      writeFileSync(path, formatIp(ip), { mode: 0o600 })
    } catch (err) {
      throw fileError('failed to record the last reserved address', path, err)
    }
  }

  private pathOf(ip: Ip): string {
    // The name is always formatted from a parsed address, so it can hold no '/' and never leaves the directory.
    return join(this.dir, formatIp(ip))
  }
}

/** `<dataDir>/<network>`; refuses a network name that is not a single path component (code 7). */
export function networkDir(location: StoreLocation): string {
  const name = location.network
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CniError(ErrorCode.InvalidConfig, `invalid characters found in network name: ${JSON.stringify(name)}`)
  }
  return join(location.dataDir, name)
}

// A reservation file is named by the canonical text of its address; anything else (lock, last_reserved_ip.*,
// files of other tools) is not a reservation and is never read, released or collected.
function addressFileName(name: string): Ip | undefined {
  const ip = parseIp(name)
  return ip && formatIp(ip) === name ? ip : undefined
}


function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile()
  } catch {
    return true // gone meanwhile (released by another writer): an ordinary race, not a broken data dir
  }
}

// mkdir -p that reports the failing component's own errno: Node's recursive mkdirSync answers ENOENT for the
// leaf when a missing parent cannot be created (on a read-only file system, say), hiding the cause.
function makeDirs(dir: string): void {
  try {
    makeDir(dir)
  } catch (err) {
    if (!hasErrno(err, 'ENOENT') || dirname(dir) === dir) throw err
    makeDirs(dirname(dir))
    makeDir(dir)
  }
}

// One mkdir; an existing directory (made by a concurrent ADD, say) is success.
function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o755 })
  } catch (err) {
    if (!hasErrno(err, 'EEXIST') || !statSync(dir).isDirectory()) throw err
  }
}
