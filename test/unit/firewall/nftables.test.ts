// nftables: reference masquerade comments and rules, tscni's portmap layout (golden scripts), parsing nft -j output.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { shortHash } from '../../../src/plugin/ids.ts'
import { EMPTY_LISTING, jumpTarget, parseNftList } from '../../../src/firewall/nft-json.ts'
import {
  masqNftRule, missingNftMasq, renderNftMasqEnsure, renderNftMasqGc, renderNftMasqRemove,
} from '../../../src/firewall/nft-masq.ts'
import {
  missingPortmap, ownerChain, ownerChainMatches, renderOwner, renderRemoveChains, renderSetup, staleOwnerChains,
} from '../../../src/firewall/nft-portmap.ts'
import { firewallFixture, sampleMasq, sampleOwner, samplePortmap } from '../../support/firewall-fixtures.ts'

const fixture = firewallFixture
const owner = sampleOwner
const portmap = samplePortmap
const masq = sampleMasq
const hostports = parseNftList(fixture('nft-hostport-list.json'))
const masqList = parseNftList(fixture('nft-masq-list.json'))

describe('reference masquerade rules', () => {
  it('rule per address: saddr is the address, daddr the subnet', () => {
    expect(masqNftRule(parseCidr('10.1.2.5/24')!)).toBe('ip saddr 10.1.2.5 ip daddr != 10.1.2.0/24 masquerade')
    expect(masqNftRule(parseCidr('2001:db8::5/64')!)).toBe('ip6 saddr 2001:db8::5 ip6 daddr != 2001:db8::/64 masquerade')
  })
})

describe('masquerade scripts', () => {
  it('on an empty table: the reference layout in one script (golden)', async () => {
    await expect(renderNftMasqEnsure(masq, EMPTY_LISTING)).toMatchFileSnapshot('../../fixtures/firewall/nft-masq-add.nft')
  })
  it('nothing to do when the listing already holds it; CHECK passes', () => {
    expect(renderNftMasqEnsure(masq, masqList)).toBe('')
    expect(missingNftMasq(masq, masqList)).toEqual([])
  })
  it('a changed address replaces the stale rule by handle, postrouting untouched', () => {
    const s = renderNftMasqEnsure({ ...masq, addresses: [parseCidr('10.0.0.3/24')!] }, masqList)
    expect(s.match(/^delete rule inet cni_plugins_masquerade masq_checks handle \d+$/gm)).toHaveLength(2)
    expect(s).not.toContain('flush chain')
    // The table and both chains exist: none is declared again (a slow commit for no change).
    expect(s).not.toMatch(/^add (table|chain)/m)
    expect(missingNftMasq({ ...masq, addresses: [parseCidr('10.0.0.3/24')!] }, masqList)).toHaveLength(1)
  })
  it('remove needs only the owner; gc keeps valid attachments of the network', () => {
    expect(renderNftMasqRemove(owner, masqList).split('\n').filter(Boolean)).toHaveLength(2)
    expect(renderNftMasqRemove({ ...owner, ifname: 'eth1' }, masqList)).toBe('')
    expect(renderNftMasqGc('test', [owner], masqList)).toBe('')
    expect(renderNftMasqGc('test', [], masqList).split('\n').filter(Boolean)).toHaveLength(2)
    expect(renderNftMasqGc('other', [], masqList)).toBe('')
  })
})

describe('portmap scripts', () => {
  it('first ADD on a node: setup plus the owner chain and its jump (golden)', async () => {
    const script = [...renderSetup(13, EMPTY_LISTING), ...renderOwner(portmap, false)].join('\n')
    await expect(`${script}\n`).toMatchFileSnapshot('../../fixtures/firewall/nft-portmap-add.nft')
    expect(script).not.toMatch(/hook input/)
  })
  it('setup adds nothing that the listing already has, chains and table included', () => {
    expect(renderSetup(13, hostports)).toEqual([])
    expect(renderSetup(5, hostports).filter((l) => l.startsWith('add rule'))).toHaveLength(2)
  })
  it('the recorded owner chain matches its intent; CHECK passes', () => {
    expect(ownerChainMatches(portmap, hostports)).toBe(true)
    expect(missingPortmap(portmap, hostports)).toEqual([])
    expect(ownerChainMatches({ ...portmap, snat: false }, hostports)).toBe(false)
  })
  it('a changed re-ADD flushes the owner chain and swaps its dispatch jump', () => {
    const lines = renderOwner({ ...portmap, mappings: portmap.mappings.slice(0, 1) }, true, hostports)
    expect(lines[0]).toBe(`flush chain inet tscni_hostport ${ownerChain(owner)}`)
    expect(lines.filter((l) => l.startsWith('delete rule inet tscni_hostport hostports-'))).toHaveLength(1)
    expect(lines.at(-1)).toMatch(/^add rule inet tscni_hostport hostports-[0-9a-f] meta l4proto \. th dport \{ tcp \. 8080 \} jump pm-/)
  })
  it('a fresh node gets the dispatch buckets once', () => {
    expect(renderSetup(undefined, EMPTY_LISTING).filter((l) => /^add rule inet tscni_hostport hostports jump hostports-[0-9a-f]$/.test(l))).toHaveLength(16)
  })
  it('owners differ by network, container and ifname', () => {
    const names = new Set([owner, { ...owner, network: 'n2' }, { ...owner, containerId: 'c2' }, { ...owner, ifname: 'eth1' }].map(ownerChain))
    expect(names.size).toBe(4)
    expect(ownerChain(owner)).toBe(`pm-${shortHash('test')}-${shortHash('eth0:c1')}`)
  })
  it('remove deletes the jump by handle and the chain, even when the chain is missing', () => {
    const s = renderRemoveChains([ownerChain(owner)], hostports)
    expect(s).toMatch(/^delete rule inet tscni_hostport hostports-[0-9a-f] handle \d+\n/)
    expect(s).toContain(`add chain inet tscni_hostport ${ownerChain(owner)}\nflush chain inet tscni_hostport ${ownerChain(owner)}\ndelete chain`)
  })
  it('gc selects stale owner chains of one network by name', () => {
    expect(staleOwnerChains('test', [owner], hostports)).toEqual([])
    expect(staleOwnerChains('test', [], hostports)).toEqual([ownerChain(owner)])
    expect(staleOwnerChains('other', [], hostports)).toEqual([])
  })
})

describe('parseNftList', () => {
  it('reads chains with hooks, rules with handles, comments and jump targets', () => {
    expect(hostports.chains.get('prerouting')?.hook).toBe('prerouting')
    const jump = hostports.rules.find((r) => r.chain.startsWith('hostports-'))!
    expect(jumpTarget(jump)).toBe(ownerChain(owner))
    expect(typeof jump.handle).toBe('number')
  })
  it('rejects output that is not nft JSON', () => {
    expect(() => parseNftList('{"x":1}')).toThrow(/cannot parse nft -j output/)
  })
  it('names the field a listing gets wrong, and ignores items it does not read', () => {
    const listing = (rule: Record<string, unknown>) => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }, { table: { name: 't' } }, { rule }] })
    const rule = { family: 'inet', table: 't', chain: 'c', handle: 7, expr: [] }
    expect(parseNftList(listing(rule)).rules).toEqual([{ ...rule, comment: undefined }])
    const causeOf = (text: string) => { try { parseNftList(text) } catch (err) { return ((err as Error).cause as Error).message } return '' }
    expect(causeOf(listing({ ...rule, handle: '7' }))).toBe('invalid nftables.2.rule.handle: expected number (got "7")')
    expect(causeOf(listing({ ...rule, comment: 5 }))).toBe('invalid nftables.2.rule.comment: expected string (got 5)')
    expect(causeOf(listing({ ...rule, expr: undefined }))).toBe('invalid nftables.2.rule.expr: expected array (missing)')
    expect(causeOf(JSON.stringify({ nftables: [{ chain: { hook: 'input' } }] }))).toBe('invalid nftables.0.chain.name: expected string (missing)')
    expect(causeOf('{"nftables": {}}')).toBe('invalid nftables: expected array (got {})')
  })
})
