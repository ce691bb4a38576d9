// The node-wide loopback drop (iptables raw PREROUTING, nft's own table at raw priority) through the FirewallBackend
// contract, and host ports on a loopback hostIP matching only locally-originated traffic, in both backends.
import { describe, expect, it } from 'vitest'
import { LOCALNET_COMMENT, missingLocalnet, renderLocalnetEnsure, renderLocalnetRemove } from '../../../src/firewall/iptables-localnet.ts'
import { dnatRules } from '../../../src/firewall/iptables-rules.ts'
import { LOCALNET_DROP, intentFamilies, type PortmapIntent } from '../../../src/firewall/model.ts'
import { missingNftLocalnet, renderNftLocalnetEnsure } from '../../../src/firewall/nft-localnet.ts'
import { EMPTY_LISTING, parseNftList } from '../../../src/firewall/nft-json.ts'
import { ownerRules } from '../../../src/firewall/nft-portmap.ts'
import { createFirewall } from '../../../src/firewall/select.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

// The rule as iptables-save prints it back (its own option order, the comment quoted).
const SAVED = `*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -d 127.0.0.0/8 ! -i lo -m comment --comment "${LOCALNET_COMMENT}" -j DROP\nCOMMIT\n`
const EMPTY_RAW = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'

describe('iptables loopback drop', () => {
  it('is inserted first in raw PREROUTING, once', () => {
    expect(renderLocalnetEnsure(EMPTY_RAW)).toBe(`*raw\n-I PREROUTING 1 ! -i lo -d 127.0.0.0/8 -m comment --comment "${LOCALNET_COMMENT}" -j DROP\nCOMMIT\n`)
    expect(renderLocalnetEnsure(SAVED)).toBe('')
  })
  it('CHECK names it when missing; removal deletes every copy', () => {
    expect(missingLocalnet(SAVED)).toEqual([])
    expect(missingLocalnet(EMPTY_RAW)).toEqual([`raw: -A PREROUTING ! -i lo -d 127.0.0.0/8 -m comment --comment "${LOCALNET_COMMENT}" -j DROP`])
    const twice = SAVED.replace('COMMIT', `${SAVED.split('\n')[3]}\nCOMMIT`)
    expect(renderLocalnetRemove(twice).match(/^-D PREROUTING /gm)).toHaveLength(2)
    expect(renderLocalnetRemove(EMPTY_RAW)).toBe('')
  })
  it('is IPv4 only (route_localnet is; the kernel never routes ::1 in from a device)', () => {
    expect(intentFamilies(LOCALNET_DROP)).toEqual([4])
  })
})

describe('nft loopback drop', () => {
  const listing = (comment: string) => parseNftList(JSON.stringify({ nftables: [
    { chain: { family: 'ip', table: 'tscni_localnet', name: 'prerouting', handle: 1, hook: 'prerouting' } },
    { rule: { family: 'ip', table: 'tscni_localnet', chain: 'prerouting', handle: 2, comment, expr: [] } },
  ] }))
  it('its own ip table, a prerouting chain at raw priority, flushed and written whole', () => {
    expect(renderNftLocalnetEnsure()).toBe([
      'add table ip tscni_localnet { comment "tscni: loopback only from lo" ; }',
      'add chain ip tscni_localnet prerouting { type filter hook prerouting priority -300 ; policy accept ; }',
      'flush chain ip tscni_localnet prerouting',
      'add rule ip tscni_localnet prerouting iif != "lo" ip daddr 127.0.0.0/8 drop comment "tscni-localnet-drop"',
      '',
    ].join('\n'))
  })
  it('CHECK: the chain and the commented rule', () => {
    expect(missingNftLocalnet(undefined)).toEqual(['chain ip tscni_localnet prerouting not found'])
    expect(missingNftLocalnet(EMPTY_LISTING)).toHaveLength(1)
    expect(missingNftLocalnet(listing('other'))).toHaveLength(1)
    expect(missingNftLocalnet(listing('tscni-localnet-drop'))).toEqual([])
  })
})

describe('the loopback drop through the FirewallBackend contract', () => {
  const lock = { lockPath: '/tmp/tscni-unit-fw.lock' }
  it('iptables: ensure reads the raw table and inserts it when missing, nothing when present; verify throws naming it', async () => {
    const sys = createFakeSystem()
    sys.on('netfilter.save', (_f: number, table: string) => (table === 'raw' ? EMPTY_RAW : ''))
    const fw = createFirewall(sys, silentLogger, lock)
    const backend = await fw.select('iptables')
    await backend.ensure(LOCALNET_DROP)
    expect(sys.callsOf('netfilter.save').map((c) => c.args)).toEqual([[4, 'raw']])
    expect(sys.callsOf('netfilter.restore').map((c) => c.args[1])).toEqual([renderLocalnetEnsure(EMPTY_RAW)])
    await expect(backend.verify(LOCALNET_DROP)).rejects.toThrow(/the loopback drop \(packets to 127\.0\.0\.0\/8 not from lo\) is missing: iptables: raw: -A PREROUTING/)
    sys.on('netfilter.save', () => SAVED)
    await backend.ensure(LOCALNET_DROP)
    await backend.verify(LOCALNET_DROP)
    expect(sys.callsOf('netfilter.restore')).toHaveLength(1)
    // Node-wide: GC has no owner to collect; remove deletes it.
    await backend.gc('localnet-drop', 'net', [])
    await backend.remove('localnet-drop', { network: '', containerId: '', ifname: '' })
    expect(sys.callsOf('netfilter.restore').at(-1)!.args[1]).toMatch(/^\*raw\n-D PREROUTING /)
  })
  it('nftables: ensure lists the chain and applies only when the rule is missing', async () => {
    const sys = createFakeSystem()
    const backend = await createFirewall(sys, silentLogger, lock).select('nftables')
    await backend.ensure(LOCALNET_DROP)
    expect(sys.callsOf('netfilter.nftList').map((c) => c.args[0])).toEqual([['chain', 'ip', 'tscni_localnet', 'prerouting']])
    expect(sys.callsOf('netfilter.nftApply').map((c) => c.args[0])).toEqual([renderNftLocalnetEnsure()])
    await expect(backend.verify(LOCALNET_DROP)).rejects.toThrow(/nftables loopback drop/)
    // ensureAll (reconcile) puts it into the one transaction with everything else.
    await backend.ensureAll!([LOCALNET_DROP])
    expect(sys.callsOf('netfilter.nftApply').at(-1)!.args[0]).toContain('add rule ip tscni_localnet prerouting iif != "lo" ip daddr 127.0.0.0/8 drop')
  })
})

describe('host ports on a loopback hostIP match only locally-originated traffic', () => {
  const intent = (hostIp?: string): PortmapIntent => ({
    kind: 'portmap', owner: { network: 'net', containerId: 'c', ifname: 'eth0' }, containerV4: parseCidr('10.1.0.5/16')!,
    mappings: [{ hostPort: 5432, containerPort: 5432, protocol: 'tcp', ...(hostIp ? { hostIp } : {}) }], snat: true, masqAll: false, markMasqBit: 13,
  })
  it('iptables: every rule of the mapping requires source type LOCAL (so PREROUTING never DNATs it)', () => {
    for (const ip of ['127.0.0.1', '127.0.0.53']) {
      const rules = dnatRules(intent(ip), parseCidr('10.1.0.5/16')!)
      expect(rules).toHaveLength(3)
      for (const r of rules) expect(r.join(' ')).toContain(`-d ${ip} -m addrtype --src-type LOCAL`)
    }
    for (const r of dnatRules(intent('192.0.2.1'), parseCidr('10.1.0.5/16')!)) expect(r).not.toContain('addrtype')
    for (const r of dnatRules(intent(), parseCidr('10.1.0.5/16')!)) expect(r).not.toContain('addrtype')
  })
  it('nftables: fib saddr type local on every rule of the mapping', () => {
    const rules = ownerRules(intent('127.0.0.1'))
    expect(rules).toEqual([
      'ip saddr 10.1.0.0/16 ip daddr 127.0.0.1 fib saddr type local tcp dport 5432 jump mark-13',
      'ip saddr 127.0.0.1 ip daddr 127.0.0.1 fib saddr type local tcp dport 5432 jump mark-13',
      'ip daddr 127.0.0.1 fib saddr type local tcp dport 5432 dnat ip to 10.1.0.5:5432',
    ])
    expect(ownerRules(intent('192.0.2.1')).join('\n')).not.toContain('fib saddr')
  })
})
