// bridge/spoofcheck.ts: the nft scripts, with the reference's names.
import { describe, expect, it } from 'vitest'
import { renderSpoofSetup, renderSpoofTeardown } from '../../../src/bridge/spoofcheck.ts'

describe('MAC spoof check', () => {
  it('renders the setup transaction', () => {
    expect(renderSpoofSetup({ hostVeth: 'veth0', mac: '02:00:00:00:00:03', refId: 'c1-eth0' })).toBe([
      'add table bridge nat',
      'add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }',
      'add chain bridge nat cni-br-iface-c1-eth0',
      'add chain bridge nat cni-br-iface-c1-eth0-mac',
      'flush chain bridge nat cni-br-iface-c1-eth0',
      'flush chain bridge nat cni-br-iface-c1-eth0-mac',
      'add rule bridge nat PREROUTING iifname "veth0" jump cni-br-iface-c1-eth0 comment "macspoofchk-c1-eth0"',
      'add rule bridge nat cni-br-iface-c1-eth0 jump cni-br-iface-c1-eth0-mac comment "macspoofchk-c1-eth0"',
      'add rule bridge nat cni-br-iface-c1-eth0-mac ether saddr 02:00:00:00:00:03 return comment "macspoofchk-c1-eth0"',
      'add rule bridge nat cni-br-iface-c1-eth0-mac drop comment "macspoofchk-c1-eth0"',
      '',
    ].join('\n'))
  })
  it('removes only what exists, by handle', () => {
    const listed = JSON.stringify({ nftables: [
      { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING' } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0' } },
      { rule: { chain: 'PREROUTING', handle: 4, comment: 'macspoofchk-c1-eth0' } },
      { rule: { chain: 'PREROUTING', handle: 9, comment: 'macspoofchk-c2-eth0' } },
    ] })
    expect(renderSpoofTeardown('c1-eth0', listed)).toBe('delete rule bridge nat PREROUTING handle 4\ndelete chain bridge nat cni-br-iface-c1-eth0\n')
    expect(renderSpoofTeardown('c3-eth0', listed)).toBe('')
    expect(renderSpoofTeardown('c1-eth0', undefined)).toBe('')
  })
})
