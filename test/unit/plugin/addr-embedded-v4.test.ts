// parseIp with dotted quads inside IPv6 text: the family comes from the text, IPv4-mapped reads as IPv4 (Go's To4).
import { describe, expect, it } from 'vitest'
import { formatIp, parseIp } from '../../../src/plugin/addr.ts'

describe('parseIp and embedded IPv4', () => {
  it.each([
    ['2001:db8::1.2.3.4', 6, '2001:db8::102:304'],
    ['::10.0.0.15', 6, '::a00:f'],
    ['::ffff:10.0.0.15', 4, '10.0.0.15'],
    ['::ffff:a00:f', 4, '10.0.0.15'],
    ['10.0.0.15', 4, '10.0.0.15'],
  ])('%s is IPv%i %s', (text, family, canonical) => {
    const ip = parseIp(text)
    expect(ip?.family).toBe(family)
    expect(formatIp(ip!)).toBe(canonical)
  })

  it.each(['2001:db8::1.2.3.999', '::ffff:1.2.3', ':::1.2.3.4', '../../etc/passwd', '10.0.0.1/24', ''])('%j is not an address', (text) => {
    expect(parseIp(text)).toBeUndefined()
  })
})
