// firewall/nft-spoofcheck.ts: the nft scripts, with the reference's names.
import { describe, expect, it } from 'vitest'
import { EMPTY_LISTING, parseNftList } from '../../../src/firewall/nft-json.ts'
import { FIREWALL_LOCK_PATH } from '../../../src/firewall/lock.ts'
import { renderSpoofSetup, renderSpoofTeardown, setupSpoofCheck, teardownSpoofCheck, type SpoofCheckSystem } from '../../../src/firewall/nft-spoofcheck.ts'

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
    const listed = parseNftList(JSON.stringify({ nftables: [
      { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING' } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0' } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4, comment: 'macspoofchk-c1-eth0', expr: [] } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 9, comment: 'macspoofchk-c2-eth0', expr: [] } },
    ] }))
    expect(renderSpoofTeardown('c1-eth0', listed)).toBe('delete rule bridge nat PREROUTING handle 4\ndelete chain bridge nat cni-br-iface-c1-eth0\n')
    expect(renderSpoofTeardown('c3-eth0', listed)).toBe('')
    expect(renderSpoofTeardown('c1-eth0', EMPTY_LISTING)).toBe('')
  })
})

describe('MAC spoof check under the firewall lock', () => {
  // A locker and netfilter that record what happens, in order.
  function recorder(tableJson: string | undefined) {
    const events: string[] = []
    const sys = {
      locker: { acquire: async (path: string) => { events.push(`lock ${path}`); return { release: async () => void events.push('unlock') } } },
      netfilter: {
        nftList: async (what: readonly string[]) => { events.push(`list ${what.join(' ')}`); return tableJson },
        nftApply: async (script: string) => void events.push(`apply ${script.split('\n')[0]}`),
      },
    } as unknown as SpoofCheckSystem
    return { events, sys }
  }

  it('setup applies its script while holding the lock', async () => {
    const { events, sys } = recorder(undefined)
    await setupSpoofCheck(sys, { hostVeth: 'veth0', mac: '02:00:00:00:00:03', refId: 'c1-eth0' })
    expect(events).toEqual([`lock ${FIREWALL_LOCK_PATH}`, 'apply add table bridge nat', 'unlock'])
  })

  it('teardown lists and deletes while holding the lock, and only lists when nothing is there', async () => {
    const listed = JSON.stringify({ nftables: [
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-c1-eth0' } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4, comment: 'macspoofchk-c1-eth0', expr: [] } },
    ] })
    const some = recorder(listed)
    await teardownSpoofCheck(some.sys, 'c1-eth0')
    expect(some.events).toEqual([`lock ${FIREWALL_LOCK_PATH}`, 'list table bridge nat', 'apply delete rule bridge nat PREROUTING handle 4', 'unlock'])
    const none = recorder(undefined)
    await teardownSpoofCheck(none.sys, 'c1-eth0')
    expect(none.events).toEqual([`lock ${FIREWALL_LOCK_PATH}`, 'list table bridge nat', 'unlock'])
  })
})
