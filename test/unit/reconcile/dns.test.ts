// dnsname in reconcile: the record's rules round-trip, damaged ones are reported, the planner merges a network's
// DNS access per backend and asks for its server once; the apply step installs every network's missing access in
// one transaction per backend (per family for iptables) and starts a stopped server only while an attachment's
// hosts file is there.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { dnsRecordedRules, dnsRulesOfRecord } from '../../../src/dns/reconcile.ts'
import { iptablesDnsChain } from '../../../src/firewall/dns-access.ts'
import type { DnsAccess } from '../../../src/firewall/model.ts'
import { parseCidr, parseIp } from '../../../src/plugin/addr.ts'
import { recordFile, type AttachmentRecord } from '../../../src/plugin/attachment-record.ts'
import { applyDnsReconcile } from '../../../src/reconcile/apply-dns.ts'
import { planReconcile, type StoredRecord } from '../../../src/reconcile/plan.ts'
import { RECONCILE_ROLES } from '../../../src/reconcile/roles.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const access = (network: string, ...pairs: Array<[string, string]>): DnsAccess => ({
  network,
  pairs: pairs.map(([gw, subnet]) => ({ gateway: parseIp(gw)!, subnet: parseCidr(subnet)! })),
})

function record(network: string, id: string, netns: string, rules: unknown): StoredRecord {
  const r: AttachmentRecord = { version: 1, role: 'dnsname', network, containerId: id, ifname: 'eth0', netns, config: {}, rules, createdAt: '2026-01-01T00:00:00Z' }
  return { ...r, file: `/s/${recordFile(r)}` }
}

const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown
const live = { netnsAlive: (p: string) => p !== '/run/netns/dead', cached: () => false }

describe('dnsname records', () => {
  it('round-trip into the access rule and the server rule', () => {
    const a = access('net', ['10.88.0.1', '10.88.0.0/16'], ['fd00::1', 'fd00::/64'])
    const rules = json(dnsRecordedRules('nftables', a, '/run/tscni/dns'))
    expect(rules).toEqual({ backend: 'nftables', dataDir: '/run/tscni/dns', pairs: [{ gateway: '10.88.0.1', subnet: '10.88.0.0/16' }, { gateway: 'fd00::1', subnet: 'fd00::/64' }] })
    expect(dnsRulesOfRecord(record('net', 'c1', '/run/netns/a', rules))).toEqual({
      rules: [
        { kind: 'dns-server', dataDir: '/run/tscni/dns', network: 'net', hostsFile: 'c1-eth0' },
        { kind: 'dns-access', backend: 'nftables', access: a },
      ],
      problems: [],
    })
  })

  it('a record of this version names the hosts file <id>:<ifname>; one of tscni 0.1.0 (no hostsFile) the old <id>-<ifname>', () => {
    const a = access('net', ['10.88.0.1', '10.88.0.0/16'])
    const current = json(dnsRecordedRules('iptables', a, '/d', 'c1:eth0'))
    expect(dnsRulesOfRecord(record('net', 'c1', '/n', current)).rules[0]).toEqual({ kind: 'dns-server', dataDir: '/d', network: 'net', hostsFile: 'c1:eth0' })
    const old = json(dnsRecordedRules('iptables', a, '/d'))
    expect(dnsRulesOfRecord(record('net', 'c1', '/n', old)).rules[0]).toEqual({ kind: 'dns-server', dataDir: '/d', network: 'net', hostsFile: 'c1-eth0' })
  })

  it('name what is damaged and keep the readable rest', () => {
    const out = dnsRulesOfRecord(record('net', 'c1', '/n', { backend: 'iptables', dataDir: '/d', pairs: [{ gateway: '10.0.0.1', subnet: 'fd00::/64' }, { gateway: '10.0.0.1', subnet: '10.0.0.0/24' }] }))
    expect(out.rules.map((r) => r.kind)).toEqual(['dns-server', 'dns-access'])
    expect(out.problems).toEqual([expect.stringMatching(/not a gateway and subnet of one family/)])
    expect(dnsRulesOfRecord(record('net', 'c1', '/n', { backend: 'pf', dataDir: 'relative' })).problems).toEqual(['DNS record without a data directory', 'DNS record without a firewall backend'])
    expect(dnsRulesOfRecord(record('net', 'c1', '/n', { backend: 'nftables', dataDir: '/d', pairs: [] })).problems).toEqual(['DNS record without gateway and subnet pairs'])
  })
})

describe('planReconcile with dnsname records', () => {
  it('merges each network\'s pairs per backend, asks for each server once, and releases the dead', () => {
    const rulesOf = (a: DnsAccess, backend: 'iptables' | 'nftables' = 'iptables', dataDir = '/run/dns') => json(dnsRecordedRules(backend, a, dataDir))
    const one = access('net', ['10.88.0.1', '10.88.0.0/16'])
    const records = [
      record('net', 'a', '/run/netns/a', rulesOf(one)),
      record('net', 'b', '/run/netns/b', rulesOf(access('net', ['10.88.0.1', '10.88.0.0/16'], ['10.89.0.1', '10.89.0.0/16']))),
      record('other', 'c', '/run/netns/c', rulesOf(access('other', ['10.90.0.1', '10.90.0.0/24']), 'nftables')),
      record('net', 'dead', '/run/netns/dead', rulesOf(one)),
    ]
    const plan = planReconcile(records, RECONCILE_ROLES, live)
    expect(plan.problems).toEqual([])
    expect(plan.stale.map((r) => r.containerId)).toEqual(['dead'])
    const ipt = plan.dns.get('iptables')!
    expect(ipt).toHaveLength(1)
    expect(ipt[0]!.records.map((r) => r.containerId)).toEqual(['a', 'b'])
    expect(ipt[0]!.access).toEqual(access('net', ['10.88.0.1', '10.88.0.0/16'], ['10.89.0.1', '10.89.0.0/16']))
    expect(plan.dns.get('nftables')!.map((n) => n.access.network)).toEqual(['other'])
    expect(plan.dnsServers.map((s) => [s.network, s.dataDir, s.hostsFiles])).toEqual([['net', '/run/dns', ['a-eth0', 'b-eth0']], ['other', '/run/dns', ['c-eth0']]])
    expect(plan.firewall.size).toBe(0)
  })
})

describe('applyDnsReconcile', () => {
  let dir = ''
  afterEach(() => void (dir && rmSync(dir, { recursive: true, force: true })))
  const report = () => ({ present: 0, restored: [] as string[], failed: [] as string[], transactions: 0 })

  it('installs every network\'s missing access in one restore per family and leaves present ones alone', async () => {
    const sys = createFakeSystem()
    const chainNet = iptablesDnsChain('net')
    // "present" is fully in place; "net" and "net2" have nothing.
    const present = access('present', ['10.1.0.1', '10.1.0.0/24'])
    const jump = `-A INPUT -m comment --comment "tscni-dns:present" -j ${iptablesDnsChain('present')}`
    const rule = (proto: string) => `-A ${iptablesDnsChain('present')} -s 10.1.0.0/24 -d 10.1.0.1/32 -p ${proto} -m ${proto} --dport 53 -j ACCEPT`
    const drop = (proto: string) => `-A ${iptablesDnsChain('present')} -d 10.1.0.1/32 -p ${proto} -m ${proto} --dport 53 -j DROP`
    sys.on('netfilter.save', (family: number) => (family === 4 ? `*filter\n:${iptablesDnsChain('present')} - [0:0]\n${jump}\n${rule('udp')}\n${rule('tcp')}\n${drop('udp')}\n${drop('tcp')}\nCOMMIT\n` : ''))
    const records = [
      record('net', 'a', '/run/netns/a', json(dnsRecordedRules('iptables', access('net', ['10.88.0.1', '10.88.0.0/16'], ['fd00::1', 'fd00::/64']), '/nonexistent'))),
      record('net2', 'b', '/run/netns/b', json(dnsRecordedRules('iptables', access('net2', ['10.89.0.1', '10.89.0.0/16']), '/nonexistent'))),
      record('present', 'c', '/run/netns/c', json(dnsRecordedRules('iptables', present, '/nonexistent'))),
    ]
    sys.on('dnsmasq.running', () => 4242)
    const out = report()
    await applyDnsReconcile(planReconcile(records, RECONCILE_ROLES, live), { sys, dryRun: false }, out)
    expect(out.failed).toEqual([])
    expect(out.restored).toEqual(['restored DNS access of network net for 1 attachment(s) (iptables)', 'restored DNS access of network net2 for 1 attachment(s) (iptables)'])
    expect(out.present).toBe(1 + 3) // one network's access, three servers running
    expect(out.transactions).toBe(1)
    const restores = sys.callsOf('netfilter.restore')
    expect(restores.map((c) => c.args[0])).toEqual([4, 6])
    const v4 = restores[0]!.args[1] as string
    expect(v4.match(/^\*filter$/gm)).toHaveLength(1)
    expect(v4.match(/^COMMIT$/gm)).toHaveLength(1)
    expect(v4).toContain(`:${chainNet} - [0:0]`)
    expect(v4).toContain(`:${iptablesDnsChain('net2')} - [0:0]`)
    expect(v4).not.toContain(iptablesDnsChain('present'))
    expect(restores[1]!.args[1]).toContain('-d fd00::1/128')
  })

  it('nftables: one nft -f for every network; a dry run changes nothing', async () => {
    const sys = createFakeSystem()
    const records = [
      record('net', 'a', '/run/netns/a', json(dnsRecordedRules('nftables', access('net', ['10.88.0.1', '10.88.0.0/16']), '/nonexistent'))),
      record('net2', 'b', '/run/netns/b', json(dnsRecordedRules('nftables', access('net2', ['10.89.0.1', '10.89.0.0/16']), '/nonexistent'))),
    ]
    sys.on('dnsmasq.running', () => 4242)
    const plan = planReconcile(records, RECONCILE_ROLES, live)
    const dry = report()
    await applyDnsReconcile(plan, { sys, dryRun: true }, dry)
    expect(dry.restored).toEqual(['would restore DNS access of network net for 1 attachment(s) (nftables)', 'would restore DNS access of network net2 for 1 attachment(s) (nftables)'])
    expect(sys.callsOf('netfilter.nftApply')).toEqual([])
    await applyDnsReconcile(plan, { sys, dryRun: false }, report())
    const applies = sys.callsOf('netfilter.nftApply')
    expect(applies).toHaveLength(1)
    expect(applies[0]!.args[0]).toMatch(/chain inet tscni-dns dns-net \{[\s\S]*chain inet tscni-dns dns-net2 \{/)
  })

  it('starts a stopped server from its config while an attachment\'s hosts file is there, and only then', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tscni-dnsrec-'))
    mkdirSync(join(dir, 'net', 'hosts'), { recursive: true })
    writeFileSync(join(dir, 'net', 'dnsmasq.conf'), 'port=53\n')
    writeFileSync(join(dir, 'net', 'hosts', 'a-eth0'), '10.88.0.2 a\n')
    mkdirSync(join(dir, 'gone', 'hosts'), { recursive: true })
    writeFileSync(join(dir, 'gone', 'dnsmasq.conf'), 'port=53\n') // its attachment was DELeted meanwhile
    mkdirSync(join(dir, 'noconf', 'hosts'), { recursive: true })
    writeFileSync(join(dir, 'noconf', 'hosts', 'c-eth0'), '10.90.0.2 c\n')
    const rules = (n: string) => json(dnsRecordedRules('nftables', access(n, ['10.88.0.1', '10.88.0.0/16']), dir))
    const plan = planReconcile([record('net', 'a', '/run/netns/a', rules('net')), record('gone', 'b', '/run/netns/b', rules('gone')), record('noconf', 'c', '/run/netns/c', rules('noconf'))], RECONCILE_ROLES, live)
    const sys = createFakeSystem()
    sys.on('netfilter.nftList', () => JSON.stringify({ nftables: [] }))
    const dry = report()
    await applyDnsReconcile({ ...plan, dns: new Map() }, { sys, dryRun: true }, dry)
    expect(dry.restored).toHaveLength(3)
    expect(sys.callsOf('dnsmasq.start')).toEqual([])

    const out = report()
    await applyDnsReconcile({ ...plan, dns: new Map() }, { sys, dryRun: false }, out)
    expect(sys.callsOf('dnsmasq.start').map((c) => c.args)).toEqual([[join(dir, 'net', 'dnsmasq.conf'), join(dir, 'net', 'dnsmasq.pid')]])
    expect(out.restored).toEqual(['restored DNS server (dnsmasq) of network net'])
    expect(out.failed).toEqual([expect.stringMatching(/^DNS server \(dnsmasq\) of network noconf: its config .*noconf\/dnsmasq.conf is gone; the next ADD/)])
  })
})
