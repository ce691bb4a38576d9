// The Store port: what the allocator needs from host-local's reservation storage (disk, or memory in tests).
import type { Ip } from '../plugin/addr.ts'

/** Who holds an address: the container and interface of one attachment. */
export interface Owner {
  readonly containerId: string
  readonly ifname: string
}

/** One reserved address and the trimmed text stored with it (`<id>\r\n<ifname>`, or `<id>` for legacy files). */
export interface Reservation {
  readonly ip: Ip
  readonly content: string
}

/** Releases a lock taken with `Store.lock`. */
export type Unlock = () => Promise<void>

/**
 * Reservations of one network. Every method except `lock` is synchronous: a plugin process has nothing else to do
 * meanwhile, and synchronous file calls are several times cheaper than their thread-pool versions.
 * Callers hold the lock around any sequence that reads and then changes the store.
 */
export interface Store {
  /** Takes the network's exclusive lock (shared with the reference plugin); CniError code 11 on timeout. */
  lock(): Promise<Unlock>
  /** Every reserved address with its content. */
  reservations(): Reservation[]
  /** Reserves `ip` for `owner` by exclusive creation; false when it is already reserved. */
  reserve(ip: Ip, owner: Owner): boolean
  /** Removes a reservation; a missing one is not an error. */
  release(ip: Ip): void
  /** The last address reserved in range set `rangeId`, when recorded and readable. */
  lastReserved(rangeId: number): Ip | undefined
  /** Records the last address reserved in range set `rangeId`. */
  setLastReserved(rangeId: number, ip: Ip): void
}

/** A network's store as the handlers use it: the Store plus directory management and STATUS facts. */
export interface NetworkStore extends Store {
  /** Creates the network directory (ADD, STATUS). */
  ensureDir(): void
  /** False when the network directory does not exist: DEL, CHECK and GC then have nothing to look at. */
  exists(): boolean
  /** Throws when the directory cannot be created or written. */
  assertWritable(): void
  /** Reserved addresses, names only (no contents read). */
  reservedAddresses(): Ip[]
}

// The reference's separator between container id and ifname in a reservation file (disk.LineBreak).
const LINE_BREAK = '\r\n'

/** The content a reservation of `owner` holds, as the reference writes it. */
export function ownerKey(owner: Owner): string {
  return `${owner.containerId.trim()}${LINE_BREAK}${owner.ifname}`
}

/** Splits stored content into its owner; `ifname` is undefined for a legacy id-only file. */
export function parseOwner(content: string): { containerId: string; ifname: string | undefined } {
  const at = content.indexOf(LINE_BREAK)
  if (at === -1) return { containerId: content, ifname: undefined }
  return { containerId: content.slice(0, at), ifname: content.slice(at + LINE_BREAK.length) }
}
