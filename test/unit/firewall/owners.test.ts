// Owners from recorded listings: the reference's and tscni's iptables comments, nftables masquerade and portmap
// comments, comments cut to the tools' limits, and matching owners to known attachments.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { dnatComment, masqComment } from '../../../src/firewall/iptables-rules.ts'
import { nftOwnerComment } from '../../../src/firewall/nft-owner.ts'
import { iptablesOwners, nftOwners, ownedBy, parseIptablesComment } from '../../../src/firewall/owners.ts'

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/firewall/${name}`, import.meta.url), 'utf8')
const K8S_ID = 'a3f1c0de9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4'

// A ruleset listing holding the given rules (table, comment) in the shape `nft -j list ruleset` prints.
function ruleset(rules: ReadonlyArray<readonly [string, string | undefined]>): string {
  return JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      ...rules.map(([table, comment], handle) => ({ rule: { family: 'inet', table, chain: 'c', handle, ...(comment === undefined ? {} : { comment }), expr: [] } })),
    ],
  })
}

describe('iptablesOwners', () => {
  it('finds the reference plugins\' masquerade and portmap owners, counting their rules', () => {
    const owners = iptablesOwners(fixture('reference-save-v4.txt'), 'iptables')
    expect(owners.map((o) => [o.kind, o.network, o.containerId, o.rules])).toEqual([
      ['masquerade', 'refnet', 'ref1', 3],
      ['masquerade', 'refnet', 'ref2', 3],
      ['portmap', 'refnet', 'ref1', 1],
      ['portmap', 'refnet', 'ref2', 1],
    ])
    expect(owners.every((o) => o.source === 'iptables' && o.ifname === undefined)).toBe(true)
  })

  it('finds tscni\'s own rules (a portmap owner with jumps per protocol) and labels the family', () => {
    const owners = iptablesOwners(fixture('save-v4-tscni-portmap-masq.txt'), 'ip6tables')
    expect(owners.map((o) => [o.source, o.kind, o.network, o.containerId, o.rules])).toEqual([
      ['ip6tables', 'masquerade', 'test', 'c1', 3],
      ['ip6tables', 'portmap', 'test', 'c1', 2],
    ])
  })

  it('ignores the shared chains\' comments, other tables and empty input', () => {
    const text = '*filter\n-A FORWARD -m comment --comment "name: \\"x\\" id: \\"y\\"" -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ\nCOMMIT\n'
    expect(iptablesOwners(text, 'iptables')).toEqual([])
    expect(iptablesOwners('', 'iptables')).toEqual([])
  })
})

describe('parseIptablesComment', () => {
  it('reads both formats, undoing Go quoting', () => {
    expect(parseIptablesComment('name: "n" id: "c"')).toEqual({ kind: 'masquerade', network: 'n', containerId: 'c' })
    expect(parseIptablesComment('dnat name: "n" id: "c"')).toEqual({ kind: 'portmap', network: 'n', containerId: 'c' })
    const odd = { network: 'we"ird\\net\t', containerId: 'id\x01', ifname: 'eth0' }
    expect(parseIptablesComment(masqComment(odd))).toEqual({ kind: 'masquerade', network: odd.network, containerId: odd.containerId })
  })

  it('reads what is left of a comment cut to 255 bytes', () => {
    const long = { network: 'n'.repeat(200), containerId: K8S_ID, ifname: 'eth0' }
    const cut = dnatComment(long)
    expect(cut.endsWith('...')).toBe(true)
    const parsed = parseIptablesComment(cut)!
    expect(parsed.kind).toBe('portmap')
    expect(parsed.network).toBe(long.network)
    expect(K8S_ID.startsWith(parsed.containerId)).toBe(true)
    expect(parsed.containerId.length).toBeLessThan(K8S_ID.length)
  })

  it('rejects other comments', () => {
    for (const c of ['CNI portfwd masquerade mark', 'name: n id: c', 'name: "n" id: "c" extra', 'name: "n" other: "c"', 'dnat "n"']) {
      expect(parseIptablesComment(c)).toBeUndefined()
    }
  })
})

describe('nftOwners', () => {
  it('finds the masquerade owner in the reference table and the portmap owner by its dispatch jump', () => {
    const masq = JSON.parse(fixture('nft-masq-list.json')).nftables
    const hostport = JSON.parse(fixture('nft-hostport-list.json')).nftables
    const owners = nftOwners(JSON.stringify({ nftables: [...masq, ...hostport] }))
    expect(owners.map((o) => [o.source, o.kind, o.network, o.ifname, o.containerId, o.rules])).toEqual([
      ['nftables', 'masquerade', 'test', 'eth0', 'c1', 2],
      ['nftables', 'portmap', 'test', 'eth0', 'c1', 1],
    ])
  })

  it('skips rules of other tables, rules without comments and tscni\'s own rule tags', () => {
    const c = nftOwnerComment({ network: 'n', containerId: 'c', ifname: 'eth0' })
    expect(nftOwners(ruleset([['filter', c], ['cni_plugins_masquerade', undefined], ['tscni_hostport', 'tscni:1b2a5a480483'], ['tscni_hostport', 'tscni-dispatch']]))).toEqual([])
    expect(nftOwners('{"nftables": []}')).toEqual([])
  })

  it('keeps the hashes of a comment cut to 128 characters', () => {
    const long = { network: 'k8s-pod-network-with-a-long-name', containerId: K8S_ID, ifname: 'eth0' }
    const comment = nftOwnerComment(long)
    expect(comment.length).toBe(128)
    const [owner] = nftOwners(ruleset([['cni_plugins_masquerade', comment]]))
    expect(owner).toMatchObject({ kind: 'masquerade', network: long.network, ifname: 'eth0' })
    expect(K8S_ID.startsWith(owner!.containerId)).toBe(true)
    expect(ownedBy(owner!, long)).toBe(true)
  })

  it('rejects output that is not an nft listing', () => {
    expect(() => nftOwners('{"tables": 1}')).toThrow('cannot parse nft -j output')
  })
})

describe('ownedBy', () => {
  const ipt = iptablesOwners(fixture('reference-save-v4.txt'), 'iptables')
  const [nftMasq] = nftOwners(fixture('nft-masq-list.json'))

  it('matches iptables owners by network and container, whatever the ifname', () => {
    const ref1 = ipt.filter((o) => ownedBy(o, { network: 'refnet', containerId: 'ref1', ifname: 'eth1' }))
    expect(ref1.map((o) => [o.kind, o.containerId])).toEqual([['masquerade', 'ref1'], ['portmap', 'ref1']])
    expect(ipt.some((o) => ownedBy(o, { network: 'refnet', containerId: 'ref', ifname: undefined }))).toBe(false)
    expect(ipt.some((o) => ownedBy(o, { network: 'other', containerId: 'ref1', ifname: 'eth0' }))).toBe(false)
  })

  it('matches an iptables comment cut to 255 bytes exactly', () => {
    const long = { network: 'n'.repeat(200), containerId: K8S_ID, ifname: 'eth0' }
    const save = `*nat\n-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "${dnatComment(long).replace(/"/g, '\\"')}" -j CNI-DN-x\nCOMMIT\n`
    const [owner] = iptablesOwners(save, 'iptables')
    expect(ownedBy(owner!, long)).toBe(true)
    expect(ownedBy(owner!, { ...long, containerId: `ffff${K8S_ID.slice(4)}` })).toBe(false)
  })

  it('matches nftables owners by network, ifname and container hashes', () => {
    expect(ownedBy(nftMasq!, { network: 'test', containerId: 'c1', ifname: 'eth0' })).toBe(true)
    expect(ownedBy(nftMasq!, { network: 'test', containerId: 'c1', ifname: 'eth1' })).toBe(false)
    expect(ownedBy(nftMasq!, { network: 'test2', containerId: 'c1', ifname: 'eth0' })).toBe(false)
    expect(ownedBy(nftMasq!, { network: 'test', containerId: 'c10', ifname: 'eth0' })).toBe(false)
  })

  it('matches a legacy id-only attachment through the ifname the nft comment names', () => {
    expect(ownedBy(nftMasq!, { network: 'test', containerId: 'c1', ifname: undefined })).toBe(true)
    expect(ownedBy(nftMasq!, { network: 'test', containerId: 'c', ifname: undefined })).toBe(false)
  })
})
