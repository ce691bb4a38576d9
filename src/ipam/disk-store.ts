// host-local reservations on disk, byte-compatible with the reference (backend/disk/backend.go): one file per address.
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { formatIp, parseIp, type Ip } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
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
    mkdirSync(this.dir, { recursive: true, mode: 0o755 })
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
    accessSync(this.dir, constants.W_OK)
  }

  async lock(): Promise<Unlock> {
    const path = join(this.dir, LOCK_FILE)
    // A wait that runs out rejects with a SystemError that normalizeError (plugin/errors.ts) makes code 11.
    const held = await this.locker.acquire(path, this.lockTimeoutMs)
    return () => held.release()
  }

  reservations(): Reservation[] {
    const out: Reservation[] = []
    for (const name of readdirSync(this.dir)) {
      const ip = addressFileName(name)
      if (!ip) continue
      try {
        out.push({ ip, content: readFileSync(join(this.dir, name), 'utf8').trim() })
      } catch (err) {
        // Released meanwhile by a writer that does not lock, or not a regular file: not a reservation we can read.
        if (!isCode(err, 'ENOENT') && !isCode(err, 'EISDIR')) throw err
      }
    }
    return out
  }

  /** Only the reserved addresses (names, no contents): what STATUS needs. */
  reservedAddresses(): Ip[] {
    return readdirSync(this.dir).flatMap((name) => addressFileName(name) ?? [])
  }

  reserve(ip: Ip, owner: Owner): boolean {
    const path = this.pathOf(ip)
    let fd: number
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600)
    } catch (err) {
      if (isCode(err, 'EEXIST')) return false
      throw err
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
      unlinkSync(path)
      throw err
    }
    return true
  }

  release(ip: Ip): void {
    try {
      unlinkSync(this.pathOf(ip))
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
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
    writeFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeId}`), formatIp(ip), { mode: 0o600 })
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

function isCode(err: unknown, code: string): boolean {
  return (err as { code?: string } | null)?.code === code
}
