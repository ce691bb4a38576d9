// Ranges and range sets: reference defaults, validation messages, membership, overlap.
import { describe, expect, it } from 'vitest'
import { canonicalizeRange, canonicalizeRangeSet, canonicalizeRangeSets, rangeCapacity, rangeContains, rangesOverlap, rangeSetToString } from '../../../src/ipam/range.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { formatCidr, formatIp, parseIp } from '../../../src/plugin/addr.ts'

const show = (r: ReturnType<typeof canonicalizeRange>) => ({
  subnet: formatCidr(r.subnet),
  rangeStart: formatIp(r.rangeStart),
  rangeEnd: formatIp(r.rangeEnd),
  gateway: formatIp(r.gateway),
})

describe('defaults', () => {
  it.each([
    ['192.0.2.0/24', { rangeStart: '192.0.2.1', rangeEnd: '192.0.2.254', gateway: '192.0.2.1' }],
    ['192.0.2.128/25', { rangeStart: '192.0.2.129', rangeEnd: '192.0.2.254', gateway: '192.0.2.129' }],
    ['2001:db8:1::/64', { rangeStart: '2001:db8:1::1', rangeEnd: '2001:db8:1:0:ffff:ffff:ffff:ffff', gateway: '2001:db8:1::1' }],
  ])('%s', (subnet, expected) => {
    expect(show(canonicalizeRange({ subnet }))).toEqual({ subnet, ...expected })
  })

  it('keeps explicit fields', () => {
    const r = canonicalizeRange({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.50', gateway: '10.0.0.254' })
    expect(show(r)).toEqual({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.50', gateway: '10.0.0.254' })
  })

  it('canonicalises IPv6 text (file names depend on it)', () => {
    expect(show(canonicalizeRange({ subnet: '2001:DB8:0001:0000::/64' })).subnet).toBe('2001:db8:1::/64')
  })
})

describe('validation errors (code 7, reference wording)', () => {
  it.each([
    [{ subnet: '10.1.2.3/24' }, 'Network has host bits set. For a subnet mask of length 24 the network address is 10.1.2.0'],
    [{ subnet: '10.1.2.128/16' }, 'Network has host bits set. For a subnet mask of length 16 the network address is 10.1.0.0'],
    [{ subnet: '2001:db8::1/64' }, 'Network has host bits set. For a subnet mask of length 64 the network address is 2001:db8::'],
    [{ subnet: '10.0.0.0/31' }, 'Network 10.0.0.0/31 too small to allocate from'],
    [{ subnet: '10.0.0.0/32' }, 'Network 10.0.0.0/32 too small to allocate from'],
    [{ subnet: '2001:db8::/127' }, 'Network 2001:db8::/127 too small to allocate from'],
    [{ subnet: 'banana' }, 'invalid CIDR address: banana'],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, 'RangeStart 10.0.1.5 not in network 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', rangeEnd: '10.0.1.5' }, 'RangeEnd 10.0.1.5 not in network 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.40' }, 'RangeEnd 10.0.0.40 is in network 10.0.0.0/24 but before start 10.0.0.50'],
    [{ subnet: '10.0.0.0/24', gateway: '10.9.0.1' }, 'gateway 10.9.0.1 not in network 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', rangeStart: '2001:db8::1' }, 'RangeStart 2001:db8::1 is not the same protocol as subnet 10.0.0.0/24'],
    [{ subnet: '10.0.0.0/24', gateway: '../../etc' }, 'gateway "../../etc" is not an IP address'],
  ])('%j', (input, message) => {
    const run = () => canonicalizeRange(input)
    expect(run).toThrow(CniError)
    expect(run).toThrow(message)
    try {
      run()
    } catch (err) {
      expect((err as CniError).code).toBe(7)
    }
  })

  it('accepts an explicit rangeStart equal to the network address', () => {
    expect(show(canonicalizeRange({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.0' })).rangeStart).toBe('10.0.0.0')
  })
})

describe('contains and overlap', () => {
  const r = canonicalizeRange({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' })
  it.each([
    ['10.0.0.10', true],
    ['10.0.0.20', true],
    ['10.0.0.9', false],
    ['10.0.0.21', false],
    ['10.0.1.15', false],
    ['::ffff:10.0.0.15', true], // IPv4-mapped text is IPv4, as Go's To4() reads it
    ['2001:db8::10.0.0.15', false], // an IPv6 address with a dotted tail is not
  ])('IPv4 range contains %s: %s', (addr, expected) => {
    const ip = parseIp(addr)
    expect(ip !== undefined && rangeContains(r, ip)).toBe(expected)
  })

  it('IPv6 contains', () => {
    const six = canonicalizeRange({ subnet: '2001:db8::/64' })
    expect(rangeContains(six, parseIp('2001:db8::ffff')!)).toBe(true)
    expect(rangeContains(six, parseIp('2001:db9::1')!)).toBe(false)
    expect(rangeContains(six, parseIp('10.0.0.1')!)).toBe(false)
  })

  const range = (subnet: string, rangeStart?: string, rangeEnd?: string) => canonicalizeRange({ subnet, rangeStart, rangeEnd })
  it.each([
    ['same subnet', range('10.0.0.0/24'), range('10.0.0.0/24'), true],
    ['nested subnet', range('10.0.0.0/16'), range('10.0.5.0/24'), true],
    ['disjoint subnets', range('10.0.0.0/24'), range('10.0.1.0/24'), false],
    ['same subnet, disjoint start/end', range('10.0.0.0/24', '10.0.0.10', '10.0.0.20'), range('10.0.0.0/24', '10.0.0.21', '10.0.0.30'), false],
    ['same subnet, touching start/end', range('10.0.0.0/24', '10.0.0.10', '10.0.0.20'), range('10.0.0.0/24', '10.0.0.20', '10.0.0.30'), true],
    ['different families', range('10.0.0.0/24'), range('2001:db8::/64'), false],
  ])('%s', (_name, a, b, expected) => {
    expect(rangesOverlap(a, b)).toBe(expected)
    expect(rangesOverlap(b, a)).toBe(expected)
  })

  it('capacity leaves out the gateway only when it lies inside the range', () => {
    expect(rangeCapacity(range('10.0.0.0/29'))).toBe(5n)
    expect(rangeCapacity(range('10.0.0.0/29', '10.0.0.2'))).toBe(5n)
    expect(rangeCapacity(range('2001:db8::/64'))).toBe(2n ** 64n - 2n)
  })
})

describe('range sets', () => {
  it('rejects an empty set, mixed families and overlaps inside a set', () => {
    expect(() => canonicalizeRangeSet([])).toThrow('empty range set')
    expect(() => canonicalizeRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '2001:db8::/64' }])).toThrow('mixed address families')
    expect(() => canonicalizeRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }])).toThrow('subnets 10.0.0.1-10.0.0.254 and 10.0.0.1-10.0.0.126 overlap')
  })

  it('numbers the failing set and rejects overlap across sets', () => {
    expect(() => canonicalizeRangeSets([[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.3/24' }]])).toThrow(
      'invalid range set 1: Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0',
    )
    expect(() => canonicalizeRangeSets([[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }], [{ subnet: '10.0.0.0/16' }]])).toThrow(
      'range set 0 overlaps with 2',
    )
  })

  it('prints as start-end,start-end', () => {
    expect(rangeSetToString(canonicalizeRangeSet([{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]))).toBe('10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2')
  })
})
