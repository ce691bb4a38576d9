// Backend choice: explicit config wins, then iptables, then nftables, else an error naming both.
import { describe, expect, it } from 'vitest'
import { selectBackend } from '../../../src/firewall/select.ts'
import { CniError } from '../../../src/plugin/errors.ts'

describe('selectBackend', () => {
  it.each([
    ['iptables', true, true, 'iptables'],
    ['nftables', true, true, 'nftables'],
    ['nftables', true, false, 'nftables'],
    ['iptables', false, true, 'iptables'],
    [undefined, true, true, 'iptables'],
    [undefined, true, false, 'iptables'],
    [undefined, false, true, 'nftables'],
  ] as const)('configured %s, iptables %s, nft %s -> %s', (configured, iptables, nftables, want) => {
    expect(selectBackend(configured, { iptables, nftables })).toBe(want)
  })
  it('names both tools when neither works', () => {
    expect(() => selectBackend(undefined, { iptables: false, nftables: false })).toThrow(CniError)
    expect(() => selectBackend(undefined, { iptables: false, nftables: false })).toThrow(/neither iptables nor nftables/)
  })
})
