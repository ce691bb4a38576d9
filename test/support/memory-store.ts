// An in-memory host-local store (the CNI FakeStore idea): records lock use and can be told to fail.
import { formatIp, parseIp, type Ip } from '../../src/plugin/addr.ts'
import { ownerKey, type NetworkStore, type Owner, type Reservation, type Unlock } from '../../src/ipam/store.ts'

/** Options for a fake store. */
export interface MemoryStoreOptions {
  /** Initial reservations: address text → stored content (`id\r\nifname` or a legacy `id`). */
  readonly reserved?: Record<string, string>
  /** Initial last_reserved_ip per range id. */
  readonly lastReserved?: Record<number, string>
  /** Addresses whose reservation throws (a failing disk). */
  readonly failReserve?: readonly string[]
  /** Addresses whose O_EXCL create reports "exists" although they are not listed (a writer that does not lock). */
  readonly raceOn?: readonly string[]
  /** Make setLastReserved throw. */
  readonly failLastReserved?: boolean
  /** Make assertWritable throw. */
  readonly unwritable?: boolean
  /** Whether the network directory exists. */
  readonly exists?: boolean
}

/** The fake store, with what tests inspect. */
export class MemoryStore implements NetworkStore {
  readonly files = new Map<string, string>()
  readonly last = new Map<number, string>()
  /** How many times the lock was taken, and whether it is held now. */
  locks = 0
  held = false
  /** Every reserve() attempt, in order. */
  readonly attempts: string[] = []
  private readonly options: MemoryStoreOptions

  constructor(options: MemoryStoreOptions = {}) {
    this.options = options
    for (const [ip, content] of Object.entries(options.reserved ?? {})) this.files.set(ip, content)
    for (const [id, ip] of Object.entries(options.lastReserved ?? {})) this.last.set(Number(id), ip)
  }

  async lock(): Promise<Unlock> {
    if (this.held) throw new Error('lock taken twice')
    this.locks++
    this.held = true
    return async () => {
      this.held = false
    }
  }

  reservations(): Reservation[] {
    this.mustHold()
    return [...this.files].map(([ip, content]) => ({ ip: parseIp(ip)!, content: content.trim() }))
  }

  reserve(ip: Ip, owner: Owner): boolean {
    this.mustHold()
    const text = formatIp(ip)
    this.attempts.push(text)
    if (this.options.failReserve?.includes(text)) throw new Error(`disk full writing ${text}`)
    if (this.files.has(text) || this.options.raceOn?.includes(text)) return false
    this.files.set(text, ownerKey(owner))
    return true
  }

  release(ip: Ip): void {
    this.mustHold()
    this.files.delete(formatIp(ip))
  }

  lastReserved(rangeId: number): Ip | undefined {
    const text = this.last.get(rangeId)
    return text === undefined ? undefined : parseIp(text)
  }

  setLastReserved(rangeId: number, ip: Ip): void {
    this.mustHold()
    if (this.options.failLastReserved) throw new Error('cannot write last_reserved_ip')
    this.last.set(rangeId, formatIp(ip))
  }

  ensureDir(): void {}

  exists(): boolean {
    return this.options.exists ?? true
  }

  assertWritable(): void {
    if (this.options.unwritable) throw new Error('EROFS: read-only file system')
  }

  reservedAddresses(): Ip[] {
    return [...this.files.keys()].map((ip) => parseIp(ip)!)
  }

  private mustHold(): void {
    if (!this.held) throw new Error('store used without holding the lock')
  }
}
