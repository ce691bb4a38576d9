// The reference's iptables chains and rules, reproduced exactly (upstream pkg/ip/ipmasq_iptables_linux.go and portmap_iptables_test.go).
import { describe, expect, it } from 'vitest'
import { parseCidr, type IpNet } from '../../../src/plugin/addr.ts'
import { formatChainName } from '../../../src/plugin/ids.ts'
import type { PortmapIntent } from '../../../src/firewall/model.ts'
import {
  dnatChain, dnatEntryRules, dnatRules, markMasqRule, masqChain, masqComment, masqRules, setMarkRule, MARK_MASQ_ENTRY, TOP_DNAT_ENTRY,
} from '../../../src/firewall/iptables-rules.ts'
import { goQuote, trimComment } from '../../../src/firewall/iptables-text.ts'

const cidr = (s: string): IpNet => parseCidr(s)!
const LONG_CID = 'icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y'
const golden: PortmapIntent = {
  kind: 'portmap',
  owner: { network: 'test', containerId: LONG_CID, ifname: 'eth0' },
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8080, containerPort: 81, protocol: 'udp' },
    { hostPort: 8082, containerPort: 82, protocol: 'udp' },
    { hostPort: 8083, containerPort: 83, protocol: 'tcp', hostIp: '192.168.0.2' },
    { hostPort: 8084, containerPort: 84, protocol: 'tcp', hostIp: '0.0.0.0' },
    { hostPort: 8085, containerPort: 85, protocol: 'tcp', hostIp: '2001:db8:a::1' },
    { hostPort: 8086, containerPort: 86, protocol: 'tcp', hostIp: '::' },
  ],
  snat: true, masqAll: false, markMasqBit: 13,
  conditionsV4: ['-a', 'b'], conditionsV6: ['-c', 'd'],
}
const SM = 'CNI-HOSTPORT-SETMARK'

describe('chain names', () => {
  it.each([
    ['test', '1234', '', 'CNI-2bbe0c48b91a7d1b8a6753a8'],
    ['testalongnamethatdoesnotmakesense', '1234', '', 'CNI-374f33fe84ab0ed84dcdebe3'],
    ['test', LONG_CID, 'DN-', 'CNI-DN-67e92b96e692a494b6b85'],
    ['testNetName', LONG_CID, 'DN-', 'CNI-DN-bfd599665540dd91d5d28'],
  ])('(%s, %s, %s) is %s', (net, cid, prefix, want) => {
    expect(formatChainName(net, cid, prefix)).toBe(want)
  })
  it('masq and DNAT chains come from (network, containerID) and ignore ifname', () => {
    expect(masqChain({ network: 'test', containerId: '1234', ifname: 'eth9' })).toBe('CNI-2bbe0c48b91a7d1b8a6753a8')
    expect(dnatChain(golden.owner)).toBe('CNI-DN-67e92b96e692a494b6b85')
  })
})

describe('portmap golden case (upstream)', () => {
  const comment = `dnat name: "test" id: "${LONG_CID}"`
  it('entry rules per protocol, all ports of the protocol, IPv4 conditions last', () => {
    expect(dnatEntryRules(golden, 4)).toEqual([
      ['-m', 'comment', '--comment', comment, '-m', 'multiport', '-p', 'tcp', '--destination-ports', '8080,8081,8083,8084,8085,8086', '-a', 'b'],
      ['-m', 'comment', '--comment', comment, '-m', 'multiport', '-p', 'udp', '--destination-ports', '8080,8082', '-a', 'b'],
    ])
    expect(dnatEntryRules(golden, 6)[0]!.slice(-2)).toEqual(['-c', 'd'])
  })
  it('IPv4 rules: hairpin, localhost, DNAT per mapping; other-family host IPs skipped', () => {
    expect(dnatRules(golden, cidr('10.0.0.2/24'))).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'tcp', '--dport', '8080', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'tcp', '--dport', '8081', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'tcp', '--dport', '8081', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'udp', '--dport', '8080', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'udp', '--dport', '8080', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'udp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:81'],
      ['-p', 'udp', '--dport', '8082', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'udp', '--dport', '8082', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'udp', '--dport', '8082', '-j', 'DNAT', '--to-destination', '10.0.0.2:82'],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-j', 'DNAT', '--to-destination', '10.0.0.2:83'],
      ['-p', 'tcp', '--dport', '8084', '-s', '10.0.0.2/24', '-j', SM],
      ['-p', 'tcp', '--dport', '8084', '-s', '127.0.0.1', '-j', SM],
      ['-p', 'tcp', '--dport', '8084', '-j', 'DNAT', '--to-destination', '10.0.0.2:84'],
    ])
  })
  it('IPv6 rules: no localhost rule, [ip]:port', () => {
    expect(dnatRules(golden, cidr('2001:db8::2/64'))).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:80'],
      ['-p', 'tcp', '--dport', '8081', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:80'],
      ['-p', 'udp', '--dport', '8080', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'udp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:81'],
      ['-p', 'udp', '--dport', '8082', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'udp', '--dport', '8082', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:82'],
      ['-p', 'tcp', '--dport', '8085', '-d', '2001:db8:a::1', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'tcp', '--dport', '8085', '-d', '2001:db8:a::1', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:85'],
      ['-p', 'tcp', '--dport', '8086', '-s', '2001:db8::2/64', '-j', SM],
      ['-p', 'tcp', '--dport', '8086', '-j', 'DNAT', '--to-destination', '[2001:db8::2]:86'],
    ])
  })
  it('snat:false leaves only the DNAT rules', () => {
    expect(dnatRules({ ...golden, snat: false }, cidr('10.0.0.2/24'))).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'tcp', '--dport', '8081', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
      ['-p', 'udp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:81'],
      ['-p', 'udp', '--dport', '8082', '-j', 'DNAT', '--to-destination', '10.0.0.2:82'],
      ['-p', 'tcp', '--dport', '8083', '-d', '192.168.0.2', '-j', 'DNAT', '--to-destination', '10.0.0.2:83'],
      ['-p', 'tcp', '--dport', '8084', '-j', 'DNAT', '--to-destination', '10.0.0.2:84'],
    ])
  })
  it('an external mark chain replaces CNI-HOSTPORT-SETMARK', () => {
    const i: PortmapIntent = { ...golden, externalSetMarkChain: 'PLZ-SET-MARK', mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }
    expect(dnatRules(i, cidr('10.0.0.2/24'))).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '10.0.0.2/24', '-j', 'PLZ-SET-MARK'],
      ['-p', 'tcp', '--dport', '8080', '-s', '127.0.0.1', '-j', 'PLZ-SET-MARK'],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.2:80'],
    ])
  })
  it('masqAll marks from any source and drops the localhost rule', () => {
    const i: PortmapIntent = { ...golden, masqAll: true, mappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] }
    expect(dnatRules(i, cidr('10.0.0.2/24'))[0]).toEqual(['-p', 'tcp', '--dport', '1', '-s', '0.0.0.0/0', '-j', SM])
    expect(dnatRules(i, cidr('10.0.0.2/24'))).toHaveLength(2)
  })
  it('mark chains for bit 5 and the top-level entry', () => {
    expect(setMarkRule(5)).toEqual(['-m', 'comment', '--comment', 'CNI portfwd masquerade mark', '-j', 'MARK', '--set-xmark', '0x20/0x20'])
    expect(markMasqRule(5)).toEqual(['-m', 'mark', '--mark', '0x20/0x20', '-j', 'MASQUERADE'])
    expect(markMasqRule(13)[3]).toBe('0x2000/0x2000')
    expect(markMasqRule(31)[3]).toBe('0x80000000/0x80000000')
    expect(MARK_MASQ_ENTRY).toEqual(['-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ'])
    expect(TOP_DNAT_ENTRY).toEqual(['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'])
  })
  it('splits more than 15 ports into multiport chunks', () => {
    const mappings = Array.from({ length: 17 }, (_, k) => ({ hostPort: 1000 + k, containerPort: 80, protocol: 'tcp' as const }))
    const rules = dnatEntryRules({ ...golden, mappings, conditionsV4: undefined }, 4)
    expect(rules.map((r) => r[9])).toEqual([mappings.slice(0, 15).map((m) => m.hostPort).join(','), '1015,1016'])
  })
})

describe('ipMasq rules and comments', () => {
  it('three rules per address in the reference order', () => {
    const owner = { network: 'net', containerId: 'cid', ifname: 'eth0' }
    const c = 'name: "net" id: "cid"'
    expect(masqRules(owner, cidr('10.1.2.5/24'))).toEqual({
      chain: [['-d', '10.1.2.5/24', '-j', 'ACCEPT', '-m', 'comment', '--comment', c], ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '-m', 'comment', '--comment', c]],
      postrouting: ['-s', '10.1.2.5', '-j', masqChain(owner), '-m', 'comment', '--comment', c],
    })
    expect(masqRules(owner, cidr('2001:db8::5/64')).chain[1]!.slice(0, 3)).toEqual(['!', '-d', 'ff00::/8'])
  })
  it('comments use Go %q quoting', () => {
    expect(masqComment({ network: 'a"b\\c', containerId: 'x\ny', ifname: 'e' })).toBe('name: "a\\"b\\\\c" id: "x\\ny"')
    expect(goQuote('\u0001é')).toBe('"\\x01é"')
  })
  it('long comments are cut to 253 bytes plus "..."', () => {
    expect(trimComment('x'.repeat(255))).toBe('x'.repeat(255))
    expect(trimComment('x'.repeat(300))).toBe(`${'x'.repeat(253)}...`)
  })
})
