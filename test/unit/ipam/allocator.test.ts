// The allocation policy: every upstream allocator vector (backend/allocator/allocator_test.go) for IPv4 and IPv6, requested IPs,
// idempotent re-ADD, release of only this call's reservations, DEL, CHECK and GC over the in-memory store.
import { describe, expect, it } from 'vitest'
import { allocate, candidates, collectGarbage, exhaustedRangeSets, holdsAny, releaseOwner, type Attachment } from '../../../src/ipam/allocator.ts'
import { canonicalizeRangeSet, type RangeInput, type RangeSet } from '../../../src/ipam/range.ts'
import { formatIp, parseIp, type Ip } from '../../../src/plugin/addr.ts'
import { MemoryStore, type MemoryStoreOptions } from '../../support/memory-store.ts'

const OWNER = { containerId: 'ctr1', ifname: 'eth0' }
const OTHER = 'other\r\neth0'
const ip = (text: string): Ip => parseIp(text)!

/** A family-neutral vector: addresses are written as IPv4; the IPv6 twin maps a.b.c.d to 2001:db8::a.b.c.d-equivalents. */
interface Vector {
  name: string
  subnets: string[]
  last?: string
  taken?: string[]
  expect: string
}

// The reference's allocator_test.go vectors (plugins/ipam/host-local/backend/allocator).
const VECTORS: Vector[] = [
  { name: 'fresh /29 gives .2', subnets: ['10.0.0.0/29'], expect: '10.0.0.2' },
  { name: 'a /30 has .2 as its only address', subnets: ['10.0.0.0/30'], expect: '10.0.0.2' },
  { name: '.2 taken gives .3', subnets: ['10.0.0.0/29'], taken: ['10.0.0.2'], expect: '10.0.0.3' },
  { name: 'last=.5 gives .6', subnets: ['10.0.0.0/29'], last: '10.0.0.5', expect: '10.0.0.6' },
  { name: 'last=.3 with .4 and .5 taken gives .6', subnets: ['10.0.0.0/29'], last: '10.0.0.3', taken: ['10.0.0.4', '10.0.0.5'], expect: '10.0.0.6' },
  { name: 'last=.5 with .6 taken wraps to .2', subnets: ['10.0.0.0/29'], last: '10.0.0.5', taken: ['10.0.0.6'], expect: '10.0.0.2' },
  { name: 'last out of range (.128) restarts from the beginning', subnets: ['10.0.0.0/29'], last: '10.0.0.128', expect: '10.0.0.2' },
  { name: 'everything taken except last=.3 gives .3', subnets: ['10.0.0.0/29'], last: '10.0.0.3', taken: ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6'], expect: '10.0.0.3' },
  { name: 'two /30s, fresh, gives the first range', subnets: ['10.0.0.0/30', '10.0.1.0/30'], expect: '10.0.0.2' },
  { name: 'two /30s, last=10.0.0.2, moves to the second range', subnets: ['10.0.0.0/30', '10.0.1.0/30'], last: '10.0.0.2', expect: '10.0.1.2' },
  { name: 'three /30s, last in the third, wraps to the first', subnets: ['10.0.0.0/30', '10.0.1.0/30', '10.0.2.0/30'], last: '10.0.2.2', expect: '10.0.0.2' },
]

// IPv4 a.b.c.d → 2001:db8::<b>:<c>:<d>; a /n subnet becomes /(n+96) with rangeEnd one below the last address,
// so the IPv6 range holds exactly the same candidates as the IPv4 one (whose default excludes the broadcast).
function v6(addr: string): string {
  const [, b, c, d] = addr.split('.').map(Number) as [number, number, number, number]
  return formatIp(ip(`2001:db8::${b.toString(16)}:${c.toString(16)}:${d.toString(16)}`))
}
function v6Range(subnet: string): RangeInput {
  const [addr, prefix] = subnet.split('/') as [string, string]
  const size = 2 ** (32 - Number(prefix))
  const [a, b, c, d] = addr.split('.').map(Number) as [number, number, number, number]
  return { subnet: `${v6(addr)}/${Number(prefix) + 96}`, rangeEnd: v6(`${a}.${b}.${c}.${d + size - 2}`) }
}

function allocateOnce(set: RangeSet, options: MemoryStoreOptions): Promise<{ got: string; store: MemoryStore }> {
  const store = new MemoryStore(options)
  return store.lock().then(async (unlock) => {
    const [a] = allocate(store, { owner: OWNER, rangeSets: [set], requested: [] })
    await unlock()
    return { got: formatIp(a!.ip), store }
  })
}

describe.each([
  { family: 'IPv4', toSet: (v: Vector) => canonicalizeRangeSet(v.subnets.map((subnet) => ({ subnet }))), map: (a: string) => a },
  { family: 'IPv6', toSet: (v: Vector) => canonicalizeRangeSet(v.subnets.map(v6Range)), map: v6 },
])('allocator vectors, $family', ({ toSet, map }) => {
  it.each(VECTORS)('$name', async (v) => {
    const reserved = Object.fromEntries((v.taken ?? []).map((t) => [map(t), OTHER]))
    const lastReserved: Record<number, string> = v.last ? { 0: map(v.last) } : {}
    const { got, store } = await allocateOnce(toSet(v), { reserved, lastReserved })
    expect(got).toBe(map(v.expect))
    expect(store.files.get(got)).toBe('ctr1\r\neth0')
    expect(store.last.get(0)).toBe(got)
  })

  it('walks .2 to .6 of a /29 and never hands out .1 (gateway) or .7', async () => {
    const set = toSet({ name: '', subnets: ['192.168.1.0/29'], expect: '' })
    const store = new MemoryStore()
    const got: string[] = []
    for (let i = 0; i < 5; i++) {
      const unlock = await store.lock()
      got.push(formatIp(allocate(store, { owner: { containerId: `c${i}`, ifname: 'eth0' }, rangeSets: [set], requested: [] })[0]!.ip))
      await unlock()
    }
    expect(got).toEqual(['192.168.1.2', '192.168.1.3', '192.168.1.4', '192.168.1.5', '192.168.1.6'].map(map))
    const unlock = await store.lock()
    expect(() => allocate(store, { owner: { containerId: 'c9', ifname: 'eth0' }, rangeSets: [set], requested: [] })).toThrow(
      /^failed to allocate for range 0: no IP addresses available in range set: /,
    )
    await unlock()
  })
})

describe('range defaults as the allocator sees them', () => {
  it('fresh /64 gives ::2', async () => {
    const { got } = await allocateOnce(canonicalizeRangeSet([{ subnet: '2001:db8:1::/64' }]), {})
    expect(got).toBe('2001:db8:1::2')
  })

  it('IPv6 hands out the all-ones address (no broadcast), IPv4 does not', () => {
    const six = [...candidates(canonicalizeRangeSet([{ subnet: '2001:db8::/126' }]), undefined)].map((c) => formatIp(c.ip))
    const four = [...candidates(canonicalizeRangeSet([{ subnet: '10.0.0.0/30' }]), undefined)].map((c) => formatIp(c.ip))
    expect(six).toEqual(['2001:db8::2', '2001:db8::3'])
    expect(four).toEqual(['10.0.0.2'])
  })

  it('release then allocate gives the next address, not the released one (round-robin)', async () => {
    const set = canonicalizeRangeSet([{ subnet: '10.0.0.0/29' }])
    const store = new MemoryStore()
    const unlock = await store.lock()
    allocate(store, { owner: OWNER, rangeSets: [set], requested: [] })
    releaseOwner(store, OWNER)
    expect(formatIp(allocate(store, { owner: OWNER, rangeSets: [set], requested: [] })[0]!.ip)).toBe('10.0.0.3')
    await unlock()
  })
})

describe('candidates (the RangeIter)', () => {
  const set = canonicalizeRangeSet([{ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/30' }])
  const walk = (last?: string) => [...candidates(set, last ? ip(last) : undefined)].map((c) => formatIp(c.ip))

  it('from the beginning: every address once, gateways skipped', () => {
    expect(walk()).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.1.2'])
  })
  it('from the middle: wraps and ends with the last reserved address', () => {
    expect(walk('10.0.0.4')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.1.2', '10.0.0.2', '10.0.0.3', '10.0.0.4'])
  })
  it('from the end of the last range: wraps to the first range', () => {
    expect(walk('10.0.1.2')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.1.2'])
  })
  it('a range whose only address is the gateway yields nothing', () => {
    const only = canonicalizeRangeSet([{ subnet: '10.0.0.0/30', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' }])
    expect([...candidates(only, undefined)]).toEqual([])
  })
})

async function withLock<T>(store: MemoryStore, fn: () => T): Promise<T> {
  const unlock = await store.lock()
  try {
    return fn()
  } finally {
    await unlock()
  }
}

describe('requested addresses', () => {
  const set = canonicalizeRangeSet([{ subnet: '10.1.2.0/24', rangeStart: '10.1.2.10', rangeEnd: '10.1.2.20' }])

  it('reserves the requested address and records it as last reserved', async () => {
    const store = new MemoryStore()
    const [a] = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: [set], requested: [ip('10.1.2.15')] }))
    expect(formatIp(a!.ip)).toBe('10.1.2.15')
    expect(store.last.get(0)).toBe('10.1.2.15')
  })

  it('an address already reserved by someone else fails with the reference message', async () => {
    const store = new MemoryStore({ reserved: { '10.1.2.15': OTHER } })
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: [set], requested: [ip('10.1.2.15')] }))).rejects.toThrow(
      'failed to allocate for range 0: requested IP address 10.1.2.15 is not available in range set 10.1.2.10-10.1.2.20',
    )
  })

  it('the gateway cannot be requested', async () => {
    const gw = canonicalizeRangeSet([{ subnet: '10.1.2.0/24' }])
    const store = new MemoryStore()
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: [gw], requested: [ip('10.1.2.1')] }))).rejects.toThrow(
      "requested ip 10.1.2.1 is subnet's gateway",
    )
  })

  it.each(['10.1.2.9', '10.1.2.21', '10.9.9.9'])('%s, outside every range set, fails and leaves nothing reserved', async (req) => {
    const store = new MemoryStore()
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: [set], requested: [ip(req)] }))).rejects.toThrow(
      `failed to allocate all requested IPs: ${req}`,
    )
    expect(store.files.size).toBe(0)
    expect(store.last.size).toBe(0)
  })

  it('each range set takes the requested address it contains (dual stack)', async () => {
    const sets = [set, canonicalizeRangeSet([{ subnet: '2001:db8::/64' }])]
    const store = new MemoryStore()
    const got = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [ip('2001:db8::99'), ip('10.1.2.11')] }))
    expect(got.map((a) => formatIp(a.ip))).toEqual(['10.1.2.11', '2001:db8::99'])
  })
})

describe('idempotent ADD and rollback', () => {
  const sets = [canonicalizeRangeSet([{ subnet: '10.1.2.0/24' }]), canonicalizeRangeSet([{ subnet: '2001:db8::/64' }])]

  it('a second ADD of the same attachment returns the same addresses and reserves nothing new', async () => {
    const store = new MemoryStore()
    const first = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))
    const again = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))
    expect(again.map((a) => formatIp(a.ip))).toEqual(first.map((a) => formatIp(a.ip)))
    expect(again.every((a) => a.reused)).toBe(true)
    expect(store.files.size).toBe(2)
  })

  it('the same container on another ifname gets new addresses', async () => {
    const store = new MemoryStore()
    await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))
    const other = await withLock(store, () => allocate(store, { owner: { ...OWNER, ifname: 'net1' }, rangeSets: sets, requested: [] }))
    expect(other.map((a) => formatIp(a.ip))).toEqual(['10.1.2.3', '2001:db8::3'])
  })

  it('a re-ADD requesting a different address than the one held fails and keeps the held one', async () => {
    const store = new MemoryStore({ reserved: { '10.1.2.7': 'ctr1\r\neth0' } })
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets.slice(0, 1), requested: [ip('10.1.2.8')] }))).rejects.toThrow(
      /10\.1\.2\.7 has been allocated to ctr1 \(eth0\)/,
    )
    expect([...store.files.keys()]).toEqual(['10.1.2.7'])
  })

  it('re-ADD completes a partial allocation: the held address is kept, the missing set is allocated', async () => {
    const store = new MemoryStore({ reserved: { '10.1.2.7': 'ctr1\r\neth0' } })
    const got = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))
    expect(got.map((a) => [formatIp(a.ip), a.reused])).toEqual([['10.1.2.7', true], ['2001:db8::2', false]])
    expect(store.last.has(0)).toBe(false) // not re-recorded: nothing was reserved in set 0
  })

  it('a failure in the second set releases only what this call reserved, never the earlier reservation', async () => {
    // Earlier reservation of this same attachment in set 0; set 1 is exhausted.
    const tiny = canonicalizeRangeSet([{ subnet: '10.9.0.0/30' }])
    const store = new MemoryStore({ reserved: { '10.1.2.7': 'ctr1\r\neth0', '10.9.0.2': OTHER } })
    const three = [sets[0]!, sets[1]!, tiny]
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: three, requested: [] }))).rejects.toThrow(
      'failed to allocate for range 2: no IP addresses available in range set: 10.9.0.1-10.9.0.2',
    )
    expect([...store.files.keys()].sort()).toEqual(['10.1.2.7', '10.9.0.2'])
    expect(store.last.size).toBe(0)
  })

  it('a disk error while reserving releases the addresses reserved before it', async () => {
    const store = new MemoryStore({ failReserve: ['2001:db8::2'] })
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))).rejects.toThrow(/disk full/)
    expect(store.files.size).toBe(0)
  })

  it('a failure writing last_reserved_ip releases this call\'s reservations', async () => {
    const store = new MemoryStore({ failLastReserved: true })
    await expect(withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets, requested: [] }))).rejects.toThrow(/last_reserved_ip/)
    expect(store.files.size).toBe(0)
  })

  it('an address created behind our back (O_EXCL says it exists) is skipped', async () => {
    const store = new MemoryStore({ raceOn: ['10.1.2.2'] })
    const got = await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets.slice(0, 1), requested: [] }))
    expect(formatIp(got[0]!.ip)).toBe('10.1.2.3')
    expect(store.attempts).toEqual(['10.1.2.2', '10.1.2.3'])
  })

  it('taken addresses are skipped without trying to create them', async () => {
    const store = new MemoryStore({ reserved: { '10.1.2.2': OTHER, '10.1.2.3': OTHER } })
    await withLock(store, () => allocate(store, { owner: OWNER, rangeSets: sets.slice(0, 1), requested: [] }))
    expect(store.attempts).toEqual(['10.1.2.4'])
  })
})

describe('release, check and GC', () => {
  it('DEL releases every file of (id, ifname) and leaves the other ifname alone', async () => {
    const store = new MemoryStore({ reserved: { '10.0.0.2': 'ctr1\r\neth0', '2001:db8::2': 'ctr1\r\neth0', '10.0.0.3': 'ctr1\r\nnet1', '10.0.0.4': 'ctr1' } })
    const { released } = await withLock(store, () => releaseOwner(store, OWNER))
    expect(released.map(formatIp).sort()).toEqual(['10.0.0.2', '2001:db8::2'])
    expect([...store.files.keys()].sort()).toEqual(['10.0.0.3', '10.0.0.4'])
  })

  it('DEL falls back to legacy id-only files when (id, ifname) holds nothing', async () => {
    const store = new MemoryStore({ reserved: { '10.0.0.4': 'ctr1', '10.0.0.5': 'ctr2' } })
    await withLock(store, () => releaseOwner(store, OWNER))
    expect([...store.files.keys()]).toEqual(['10.0.0.5'])
  })

  it('DEL of an unknown attachment releases nothing and reports no error', async () => {
    const store = new MemoryStore({ reserved: { '10.0.0.5': OTHER } })
    expect(await withLock(store, () => releaseOwner(store, OWNER))).toEqual({ released: [], errors: [] })
    expect(store.files.size).toBe(1)
  })

  it('CHECK finds (id, ifname) or a legacy file of the id, and nothing else', async () => {
    const cases: Array<[Record<string, string>, boolean]> = [
      [{ '10.0.0.2': 'ctr1\r\neth0' }, true],
      [{ '10.0.0.2': 'ctr1' }, true],
      [{ '10.0.0.2': 'ctr1\r\nnet1' }, false],
      [{ '10.0.0.2': OTHER }, false],
    ]
    for (const [reserved, expected] of cases) {
      const store = new MemoryStore({ reserved })
      expect(await withLock(store, () => holdsAny(store, OWNER))).toBe(expected)
    }
  })

  const GC_FILES = {
    '10.0.0.2': 'a\r\neth0',
    '10.0.0.3': 'b\r\neth0',
    '10.0.0.4': 'a\r\nnet1',
    '10.0.0.5': 'legacy',
    '2001:db8::2': 'c\r\neth0',
  }
  it.each<[string, Attachment[], string[]]>([
    ['an empty list releases everything', [], []],
    ['a partial list keeps exactly the listed attachments', [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'c', ifname: 'eth0' }], ['10.0.0.2', '2001:db8::2']],
    ['a legacy file stays when any attachment has its container id', [{ containerID: 'legacy', ifname: 'eth9' }], ['10.0.0.5']],
    ['the ifname matters for non-legacy files', [{ containerID: 'b', ifname: 'eth1' }], []],
  ])('GC: %s', async (_name, valid, kept) => {
    const store = new MemoryStore({ reserved: GC_FILES, lastReserved: { 0: '10.0.0.5' } })
    const { errors } = await withLock(store, () => collectGarbage(store, valid))
    expect(errors).toEqual([])
    expect([...store.files.keys()].sort()).toEqual(kept.sort())
    expect(store.last.get(0)).toBe('10.0.0.5')
  })
})

describe('exhaustedRangeSets (STATUS)', () => {
  const small = canonicalizeRangeSet([{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }])
  const big = canonicalizeRangeSet([{ subnet: '2001:db8::/64' }])
  it('a set is exhausted only when every one of its ranges is full', () => {
    expect(exhaustedRangeSets([small, big], [ip('10.0.0.2')])).toEqual([])
    expect(exhaustedRangeSets([small, big], [ip('10.0.0.2'), ip('10.0.1.2')])).toEqual([0])
  })
  it('addresses outside the ranges and the gateway do not count', () => {
    expect(exhaustedRangeSets([small], [ip('10.0.0.1'), ip('10.0.0.3'), ip('10.0.1.1')])).toEqual([])
  })
})
