// doctor's attachment checks from facts: live, leaked and unrecorded reservations, a missing cache, stale rules.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { doctorChecks, exitCodeOf, type Check, type DoctorFacts } from '../../../src/cli/doctor-checks.ts'
import { nftOwnerComment } from '../../../src/firewall/nft-owner.ts'
import { entry, healthy, network } from './doctor-helpers.ts'

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/firewall/${name}`, import.meta.url), 'utf8')

function checksOf(facts: DoctorFacts, ...names: string[]): Check[] {
  return doctorChecks(facts).filter((c) => names.includes(c.check))
}

// One network "tscni" holding 10.47.0.2 for c1/eth0 (or a legacy id-only file), with a cache as given.
function node(reservations = [{ ip: '10.47.0.2', containerId: 'c1', ifname: 'eth0' as string | undefined }]): DoctorFacts['node'] {
  return { dataDir: '/data', confDir: '/conf', networks: [network('tscni', reservations)], notes: [] }
}

describe('reservations', () => {
  it('ok when every reservation has a cache entry with a live namespace', () => {
    const facts = healthy({ node: node(), cache: { cacheDir: '/cache', present: true, entries: [entry('tscni', 'c1', 'eth0', '/run/netns/a')], unreadable: [] }, netns: { '/run/netns/a': 'ok' } })
    expect(checksOf(facts, 'reservations', 'leak', 'no runtime record')).toEqual([
      { check: 'reservations', status: 'ok', detail: '1 address(es) reserved: 1 with a live namespace, 0 leaked, 0 without a runtime record' },
    ])
    expect(exitCodeOf(doctorChecks(facts))).toBe(0)
  })

  it.each([['missing', 'no longer exists'], ['not-netns', 'is not a network namespace']] as const)(
    'a cache entry whose namespace is %s is a leak with the exact remedy, and exits 1',
    (state, words) => {
      const facts = healthy({ node: node(), cache: { cacheDir: '/cache', present: true, entries: [entry('tscni', 'c1', 'eth0', '/run/netns/gone')], unreadable: [] }, netns: { '/run/netns/gone': state } })
      const [leak, summary] = checksOf(facts, 'leak', 'reservations')
      expect(leak).toEqual({
        check: 'leak',
        status: 'fail',
        detail: `network tscni 10.47.0.2: container c1 ifname eth0: the container is gone (/run/netns/gone ${words})`,
        remedy: 'tscni gc --network tscni --valid FILE (FILE lists the attachments still in use), or a CNI DEL for container c1 ifname eth0 on network tscni (DEL needs no namespace)',
      })
      expect(summary).toMatchObject({ status: 'info', detail: expect.stringContaining('1 leaked') })
      expect(exitCodeOf(doctorChecks(facts))).toBe(1)
    },
  )

  it('an entry of another interface, network or container does not vouch for the reservation', () => {
    const entries = [entry('tscni', 'c1', 'eth1', '/run/netns/a'), entry('other', 'c1', 'eth0', '/run/netns/a'), entry('tscni', 'c2', 'eth0', '/run/netns/a')]
    const facts = healthy({ node: node(), cache: { cacheDir: '/cache', present: true, entries, unreadable: [] }, netns: { '/run/netns/a': 'ok' } })
    const [record] = checksOf(facts, 'no runtime record')
    expect(record).toMatchObject({ status: 'warn', detail: expect.stringContaining('no entry in /cache/results, probably leaked'), remedy: expect.stringContaining('tscni gc --network tscni') })
  })

  it('without a runtime record: a probable leak, worded apart, which warns without failing', () => {
    const facts = healthy({ node: node() })
    const checks = checksOf(facts, 'no runtime record', 'reservations', 'leak')
    expect(checks.map((c) => [c.check, c.status])).toEqual([['no runtime record', 'warn'], ['reservations', 'info']])
    expect(exitCodeOf(doctorChecks(facts))).toBe(0)
  })

  it('a legacy id-only reservation matches any interface of its container', () => {
    const legacy = node([{ ip: '10.47.0.9', containerId: 'c1', ifname: undefined }])
    const alive = healthy({ node: legacy, cache: { cacheDir: '/cache', present: true, entries: [entry('tscni', 'c1', 'net1', '/run/netns/a')], unreadable: [] }, netns: { '/run/netns/a': 'ok' } })
    expect(checksOf(alive, 'reservations')[0]!.status).toBe('ok')
    const gone = healthy({ ...alive, netns: { '/run/netns/a': 'missing' } })
    const [leak] = checksOf(gone, 'leak')
    expect(leak!.detail).toContain('container c1 (legacy reservation, ifname unknown)')
    expect(leak!.remedy).toContain('CNI DEL for container c1 on network tscni')
  })

  it('alive while any of its entries has a live namespace, or names none', () => {
    const entries = [entry('tscni', 'c1', 'eth0', '')]
    expect(checksOf(healthy({ node: node(), cache: { cacheDir: '/cache', present: true, entries, unreadable: [] } }), 'reservations')[0]!.status).toBe('ok')
  })

  it('without a cache dir: says the reservations cannot be cross-checked, as information', () => {
    const facts = healthy({ node: node(), cache: { cacheDir: '/cache', present: false, entries: [], unreadable: [] } })
    expect(checksOf(facts, 'reservations', 'leak', 'no runtime record')).toEqual([
      { check: 'reservations', status: 'info', detail: expect.stringContaining('/cache/results does not exist, so they cannot be checked') },
    ])
  })

  it('warns about cache files it could not read', () => {
    const facts = healthy({ cache: { cacheDir: '/cache', present: true, entries: [], unreadable: ['/cache/results/x: not JSON'] } })
    expect(checksOf(facts, 'runtime cache')).toEqual([{ check: 'runtime cache', status: 'warn', detail: 'skipped /cache/results/x: not JSON' }])
  })
})

describe('stale firewall rules', () => {
  const nftMasq = fixture('nft-masq-list.json')
  const refSave = fixture('reference-save-v4.txt')

  it('rules whose owner has neither reservation nor runtime record are stale, each owner once, and exit 1', () => {
    const facts = healthy({ listings: { iptables: { text: refSave }, ip6tables: { text: '' }, nftables: { text: nftMasq } } })
    const stale = checksOf(facts, 'stale rules')
    expect(stale.map((c) => c.detail.split(':')[0])).toEqual([
      'iptables masquerade rules (3) of network refnet container ref1',
      'iptables masquerade rules (3) of network refnet container ref2',
      'iptables port mapping rules (1) of network refnet container ref1',
      'iptables port mapping rules (1) of network refnet container ref2',
      'nftables masquerade rules (2) of network test container c1 ifname eth0',
    ])
    expect(stale.every((c) => c.status === 'fail' && c.remedy?.includes('CNI DEL'))).toBe(true)
    expect(exitCodeOf(doctorChecks(facts))).toBe(1)
  })

  it('a reservation or a cache entry makes the rules not stale', () => {
    const facts = healthy({
      node: { dataDir: '/data', confDir: '/conf', networks: [network('refnet', [{ ip: '10.0.1.5', containerId: 'ref1', ifname: 'eth0' }]), network('test', [{ ip: '10.0.0.2', containerId: 'c1', ifname: undefined }])], notes: [] },
      cache: { cacheDir: '/cache', present: true, entries: [entry('refnet', 'ref2', 'eth0', '/run/netns/a')], unreadable: [] },
      netns: { '/run/netns/a': 'ok' },
      listings: { iptables: { text: refSave }, ip6tables: { text: '' }, nftables: { text: nftMasq } },
    })
    expect(checksOf(facts, 'stale rules')).toEqual([])
    expect(checksOf(facts, 'firewall rules')).toEqual([
      { check: 'firewall rules', status: 'ok', detail: '5 owner(s) of CNI rules in iptables, ip6tables, nftables, each with a reservation or runtime record' },
    ])
  })

  it('a listing that could not be read is information; one that cannot be parsed warns', () => {
    const facts = healthy({ listings: { iptables: { error: 'iptables-save not found' }, ip6tables: { text: '' }, nftables: { text: 'not json' } } })
    expect(checksOf(facts, 'firewall rules').map((c) => [c.status, c.detail.split(':')[0]])).toEqual([
      ['info', 'iptables rules not checked'],
      ['warn', 'nftables listing not understood'],
      ['ok', 'no CNI rules in ip6tables'],
    ])
  })

  it('names a stale nftables owner cut from its comment by its hashes', () => {
    const comment = nftOwnerComment({ network: 'a-network-with-a-rather-long-name', containerId: 'f'.repeat(64), ifname: 'eth0' })
    const text = JSON.stringify({ nftables: [{ rule: { family: 'inet', table: 'tscni_hostport', chain: 'hostports-1', handle: 3, comment, expr: [] } }] })
    const [stale] = checksOf(healthy({ listings: { iptables: { text: '' }, ip6tables: { text: '' }, nftables: { text } } }), 'stale rules')
    expect(stale!.detail).toMatch(/^nftables port mapping rules \(1\) of network a-network-with-a-rather-long-name container f+ ifname eth0/)
  })
})
