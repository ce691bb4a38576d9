import { describe, expect, it } from 'vitest'
import { compareIp, formatCidr, formatIp, ipAdd, lastAddress, netContains, netsOverlap, networkAddress, parseCidr, parseIp, parseIpOrCidr } from '../../../src/plugin/addr.ts'

const ip = (s: string) => parseIp(s)!
const net = (s: string) => parseCidr(s)!

describe('parse and format', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:0', '2001:db8:0:1::'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ])('%s is written %s (the canonical text host-local uses as file name)', (text, canonical) => {
    expect(formatIp(ip(text))).toBe(canonical)
  })

  it.each(['10.1.2.300', '10.1.2', '01.2.3.4', '10.1.2.3/24', '', 'x', '../../etc/passwd', '2001:db8::1%eth0', '1:2:3:4:5:6:7:8:9'])('rejects %j as an address', (text) => {
    expect(parseIp(text)).toBeUndefined()
  })

  it('keeps host bits of a CIDR and checks the prefix length per family', () => {
    expect(formatCidr(net('10.1.2.5/24'))).toBe('10.1.2.5/24')
    expect(parseCidr('10.0.0.0/33')).toBeUndefined()
    expect(parseCidr('2001:db8::/129')).toBeUndefined()
    expect(parseCidr('2001:db8::/128')?.prefix).toBe(128)
    expect(parseCidr('10.0.0.0/')).toBeUndefined()
    expect(parseCidr('10.0.0.0/+1')).toBeUndefined()
  })

  it('gives a bare address the full prefix in parseIpOrCidr', () => {
    expect(parseIpOrCidr('10.0.0.7')?.prefix).toBe(32)
    expect(parseIpOrCidr('2001:db8::7')?.prefix).toBe(128)
    expect(parseIpOrCidr('10.0.0.7/24')?.prefix).toBe(24)
  })
})

describe('arithmetic', () => {
  it('finds network and last addresses', () => {
    expect(formatIp(networkAddress(net('10.1.2.77/26')))).toBe('10.1.2.64')
    expect(formatIp(lastAddress(net('10.1.2.77/26')))).toBe('10.1.2.127')
    expect(formatIp(lastAddress(net('2001:db8:1::/64')))).toBe('2001:db8:1:0:ffff:ffff:ffff:ffff')
  })

  it('adds within the family and refuses to leave it', () => {
    expect(formatIp(ipAdd(ip('10.0.0.255'), 1n)!)).toBe('10.0.1.0')
    expect(ipAdd(ip('255.255.255.255'), 1n)).toBeUndefined()
    expect(ipAdd(ip('0.0.0.0'), -1n)).toBeUndefined()
    expect(formatIp(ipAdd(ip('2001:db8::ffff'), 1n)!)).toBe('2001:db8::1:0')
  })

  it('contains and overlaps respect family', () => {
    expect(netContains(net('10.0.0.0/8'), ip('10.255.0.1'))).toBe(true)
    expect(netContains(net('10.0.0.0/8'), ip('11.0.0.1'))).toBe(false)
    expect(netContains(net('::/0'), ip('10.0.0.1'))).toBe(false)
    expect(netsOverlap(net('10.0.0.0/8'), net('10.1.0.0/16'))).toBe(true)
    expect(netsOverlap(net('10.0.0.0/16'), net('10.1.0.0/16'))).toBe(false)
  })

  it('orders IPv4 before IPv6, then numerically', () => {
    const sorted = ['2001:db8::1', '10.0.0.10', '10.0.0.9', '::1'].map(ip).sort(compareIp).map(formatIp)
    expect(sorted).toEqual(['10.0.0.9', '10.0.0.10', '::1', '2001:db8::1'])
  })
})
