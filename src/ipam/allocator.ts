// host-local's allocation policy over a Store (the reference's backend/allocator/allocator.go): round-robin, requested IPs, release, GC. Pure.
import type { ValidAttachment } from '../plugin/attachments.ts'
import { formatIp, ipAdd, ipEquals, type Ip } from '../plugin/addr.ts'
import { CniError, ErrorCode, normalizeError, wrapError } from '../plugin/errors.ts'
import { rangeCapacity, rangeFor, rangeSetContains, rangeSetToString, type Range, type RangeSet } from './range.ts'
import { ownerKey, parseOwner, type Owner, type Reservation, type Store } from './store.ts'

/** One address handed out by ADD. `reused` marks an address this attachment already held (idempotent re-ADD). */
export interface Allocation {
  readonly ip: Ip
  readonly range: Range
  readonly rangeId: number
  readonly reused: boolean
}

/** One candidate address of the round-robin walk and the range it belongs to. */
export interface Candidate {
  readonly ip: Ip
  readonly range: Range
}

/**
 * The reference's RangeIter: starts after `lastReserved` when the set contains it (so that address is tried last),
 * otherwise at the first range's rangeStart; wraps from each rangeEnd to the next range's rangeStart and from the
 * last range to the first; skips each range's gateway; stops when it comes back to where it started.
 */
export function* candidates(set: RangeSet, lastReserved: Ip | undefined): Generator<Candidate> {
  let idx = lastReserved ? set.findIndex((r) => rangeFor([r], lastReserved)) : -1
  let cur: Ip | undefined = idx === -1 ? undefined : lastReserved
  let startIp: Ip | undefined
  if (idx === -1) idx = 0
  for (;;) {
    let range = set[idx]!
    if (cur === undefined) {
      cur = range.rangeStart
      startIp = cur
    } else {
      if (ipEquals(cur, range.rangeEnd)) {
        idx = (idx + 1) % set.length
        range = set[idx]!
        cur = range.rangeStart
      } else {
        cur = ipAdd(cur, 1n)!
      }
      if (startIp === undefined) startIp = cur
      else if (ipEquals(cur, startIp)) return
    }
    if (!ipEquals(cur, range.gateway)) yield { ip: cur, range }
  }
}

/** What ADD asks of the allocator. */
export interface AllocationRequest {
  readonly owner: Owner
  readonly rangeSets: readonly RangeSet[]
  /** Requested addresses (CNI_ARGS IP, args.cni.ips, runtimeConfig.ips), each used by the first set containing it. */
  readonly requested: readonly Ip[]
}

/**
 * Allocates one address per range set for `owner`; the caller holds the store lock. An attachment that already
 * holds an address in a set gets it back instead of an error. On any failure only the addresses reserved by
 * this call are released (never earlier reservations, as the reference
 * does: docs/architecture.md, host-local allocation) and the error is rethrown.
 */
export function allocate(store: Store, request: AllocationRequest): Allocation[] {
  const all = store.reservations()
  const taken = new Set(all.map((r) => ipKey(r.ip)))
  const key = ownerKey(request.owner)
  const mine = all.filter((r) => r.content === key)
  const pending = [...request.requested]
  const created: Ip[] = []
  const out: Allocation[] = []
  try {
    request.rangeSets.forEach((set, rangeId) => {
      const at = pending.findIndex((ip) => rangeSetContains(set, ip))
      const requested = at === -1 ? undefined : pending.splice(at, 1)[0]
      try {
        const allocation = allocateOne(store, set, rangeId, request.owner, requested, mine, taken)
        if (!allocation.reused) created.push(allocation.ip)
        out.push(allocation)
      } catch (err) {
        throw wrapError(`failed to allocate for range ${rangeId}`, err)
      }
    })
    if (pending.length > 0) throw new CniError(ErrorCode.Internal, `failed to allocate all requested IPs: ${pending.map(formatIp).join(' ')}`)
    // Written last, so a failed ADD leaves the round-robin cursor where it was.
    for (const a of out) if (!a.reused) store.setLastReserved(a.rangeId, a.ip)
    return out
  } catch (err) {
    for (const ip of created) {
      try {
        store.release(ip)
      } catch {
        // Best effort: the original error is what the runtime needs to see; a leftover is found by DEL or GC.
      }
    }
    throw err
  }
}

function allocateOne(store: Store, set: RangeSet, rangeId: number, owner: Owner, requested: Ip | undefined, mine: readonly Reservation[], taken: ReadonlySet<string>): Allocation {
  const held = mine.find((r) => rangeSetContains(set, r.ip))
  if (held) {
    if (requested && !ipEquals(requested, held.ip)) {
      throw new CniError(ErrorCode.Internal, `${formatIp(held.ip)} has been allocated to ${owner.containerId} (${owner.ifname}), so requested IP address ${formatIp(requested)} cannot be allocated; DEL the attachment first`)
    }
    return { ip: held.ip, range: rangeFor(set, held.ip)!, rangeId, reused: true }
  }
  if (requested) {
    const range = rangeFor(set, requested)!
    if (ipEquals(requested, range.gateway)) throw new CniError(ErrorCode.Internal, `requested ip ${formatIp(requested)} is subnet's gateway`)
    if (taken.has(ipKey(requested)) || !store.reserve(requested, owner)) {
      throw new CniError(ErrorCode.Internal, `requested IP address ${formatIp(requested)} is not available in range set ${rangeSetToString(set)}`)
    }
    return { ip: requested, range, rangeId, reused: false }
  }
  // Addresses listed as taken are skipped without a system call; O_EXCL still guards against writers that do not lock.
  for (const candidate of candidates(set, store.lastReserved(rangeId))) {
    if (taken.has(ipKey(candidate.ip))) continue
    if (store.reserve(candidate.ip, owner)) return { ...candidate, rangeId, reused: false }
  }
  throw new CniError(ErrorCode.Internal, `no IP addresses available in range set: ${rangeSetToString(set)}`)
}

/**
 * Releases every address of (containerId, ifname); when there is none, every legacy id-only file of containerId
 * (as the reference does). The caller holds the lock. Returns the released addresses; errors are collected.
 */
export function releaseOwner(store: Store, owner: Owner): { released: Ip[]; errors: CniError[] } {
  const all = store.reservations()
  const key = ownerKey(owner)
  let victims = all.filter((r) => r.content === key)
  if (victims.length === 0) victims = all.filter((r) => r.content === owner.containerId.trim())
  return releaseAll(store, victims)
}

/** True when (containerId, ifname), or a legacy file of containerId, holds any address (the reference CHECK). */
export function holdsAny(store: Store, owner: Owner): boolean {
  const key = ownerKey(owner)
  const legacy = owner.containerId.trim()
  return store.reservations().some((r) => r.content === key || r.content === legacy)
}

/** An attachment the runtime still considers valid (an entry of `cni.dev/valid-attachments`). */
export type Attachment = ValidAttachment

/**
 * GC: releases every reservation whose owner is not a valid attachment. A legacy id-only file stays when any
 * valid attachment has its container id. Only address files are considered, so `lock` and `last_reserved_ip.*`
 * are never touched. The caller holds the lock.
 */
export function collectGarbage(store: Store, valid: readonly Attachment[]): { released: Ip[]; errors: CniError[] } {
  const keys = new Set(valid.map((a) => ownerKey({ containerId: a.containerID, ifname: a.ifname })))
  const ids = new Set(valid.map((a) => a.containerID.trim()))
  const victims = store.reservations().filter((r) => {
    const owner = parseOwner(r.content)
    return owner.ifname === undefined ? !ids.has(owner.containerId) : !keys.has(r.content)
  })
  return releaseAll(store, victims)
}

function releaseAll(store: Store, victims: readonly Reservation[]): { released: Ip[]; errors: CniError[] } {
  const released: Ip[] = []
  const errors: CniError[] = []
  for (const r of victims) {
    try {
      store.release(r.ip)
      released.push(r.ip)
    } catch (err) {
      errors.push(normalizeError(err))
    }
  }
  return { released, errors }
}

/** Indexes of the range sets with no free address left (an ADD would fail on them). */
export function exhaustedRangeSets(rangeSets: readonly RangeSet[], reserved: readonly Ip[]): number[] {
  const out: number[] = []
  rangeSets.forEach((set, i) => {
    const free = set.some((range) => {
      const used = reserved.filter((ip) => rangeFor([range], ip) && !ipEquals(ip, range.gateway)).length
      return rangeCapacity(range) > BigInt(used)
    })
    if (!free) out.push(i)
  })
  return out
}

function ipKey(ip: Ip): string {
  return `${ip.family}:${ip.value}`
}
