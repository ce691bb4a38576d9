import { describe, expect, it } from 'vitest'
import { formatChainName, hostVethName, shortHash } from '../../../src/plugin/ids.ts'

describe('reference hash vectors (pkg/utils FormatChainName, portmap chain names)', () => {
  it.each([
    ['test', '1234', '', 'CNI-2bbe0c48b91a7d1b8a6753a8'],
    ['testalongnamethatdoesnotmakesense', '1234', '', 'CNI-374f33fe84ab0ed84dcdebe3'],
  ])('FormatChainName(%s, %s)', (net, cid, prefix, expected) => {
    expect(formatChainName(net, cid, prefix)).toBe(expected)
  })

  it.each([
    ['unit-test', '6fd94d501e58f0aa'],
    ['eth0:one', '287fc69eff0574a2'],
    ['alternate', '82783ef24bdc7036'],
    ['net1:three', 'acb19d111858e348'],
  ])('H(%s) = %s', (text, expected) => {
    expect(shortHash(text)).toBe(expected)
  })
})

describe('hostVethName', () => {
  it('is deterministic, fits IFNAMSIZ and differs per attachment', () => {
    const a = hostVethName('net', 'c1', 'eth0')
    expect(a).toMatch(/^veth[0-9a-f]{11}$/)
    expect(hostVethName('net', 'c1', 'eth0')).toBe(a)
    expect(new Set([a, hostVethName('net', 'c1', 'eth1'), hostVethName('net', 'c2', 'eth0'), hostVethName('net2', 'c1', 'eth0')]).size).toBe(4)
  })
  it('does not confuse concatenations ("ab"+"c" vs "a"+"bc")', () => {
    expect(hostVethName('ab', 'c', 'eth0')).not.toBe(hostVethName('a', 'bc', 'eth0'))
  })
})
