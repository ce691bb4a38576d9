// The reconcile planner and the record format of firewall intents: live records' rules grouped per backend,
// dead ones released unless the runtime still lists them, unknown roles and unreadable rules reported.
import { describe, expect, it } from 'vitest'
import { intentFromJson, intentToJson, parseRecordedRules, recordedRules } from '../../../src/firewall/intent-json.ts'
import { LOCALNET_DROP, type MasqIntent, type PortmapIntent } from '../../../src/firewall/model.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'
import type { AttachmentRecord } from '../../../src/plugin/attachment-record.ts'
import { recordFile } from '../../../src/plugin/attachment-record.ts'
import { planReconcile, type StoredRecord } from '../../../src/reconcile/plan.ts'
import { RECONCILE_ROLES } from '../../../src/reconcile/roles.ts'

const owner = (containerId: string) => ({ network: 'net', containerId, ifname: 'eth0' })
const masq = (id: string): MasqIntent => ({ kind: 'masquerade', owner: owner(id), addresses: [parseCidr('10.1.0.5/16')!, parseCidr('fd00::5/64')!] })
const portmap = (id: string): PortmapIntent => ({
  kind: 'portmap', owner: owner(id), containerV4: parseCidr('10.1.0.5/16')!, mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  snat: true, masqAll: false, markMasqBit: 13,
})

function record(role: string, id: string, netns: string, rules: unknown): StoredRecord {
  const r: AttachmentRecord = { version: 1, role, network: 'net', containerId: id, ifname: 'eth0', netns, config: {}, rules, createdAt: '2026-01-01T00:00:00Z' }
  return { ...r, file: `/s/${recordFile(r)}` }
}

describe('intent JSON', () => {
  it('round-trips masquerade, portmap and loopback drop intents with their backend', () => {
    for (const intent of [masq('a'), portmap('a'), LOCALNET_DROP]) {
      const json = JSON.parse(JSON.stringify(intentToJson({ backend: 'nftables', intent })))
      expect(intentFromJson(json)).toEqual({ backend: 'nftables', intent })
    }
  })

  it('names what is wrong with a damaged entry and keeps the readable rest', () => {
    expect(intentFromJson({ backend: 'pf', intent: {} })).toBe('not a recorded firewall intent')
    expect(intentFromJson({ backend: 'iptables', intent: { kind: 'masquerade', owner: owner('a'), addresses: ['nope'] } })).toMatch(/without valid addresses/)
    const rules = JSON.parse(JSON.stringify(recordedRules([{ backend: 'iptables', intent: masq('a') }], { hostVeth: 'veth1', mac: '02:00:00:00:00:01', refId: 'a-eth0' })))
    rules.firewall.push({ backend: 'iptables', intent: { kind: 'dns', owner: owner('a') } })
    const parsed = parseRecordedRules(rules)
    expect(parsed.firewall).toHaveLength(1)
    expect(parsed.spoofCheck).toEqual({ hostVeth: 'veth1', mac: '02:00:00:00:00:01', refId: 'a-eth0' })
    expect(parsed.problems).toEqual(['unknown intent kind "dns"'])
  })
})

describe('planReconcile', () => {
  const rulesOf = (backend: 'iptables' | 'nftables', intent: MasqIntent | PortmapIntent) => JSON.parse(JSON.stringify(recordedRules([{ backend, intent }])))

  it('groups live attachments\' intents per backend and spoof checks apart', () => {
    const records = [
      record('bridge', 'a', '/run/netns/a', JSON.parse(JSON.stringify(recordedRules([{ backend: 'iptables', intent: masq('a') }], { hostVeth: 'v', mac: '02:00:00:00:00:01', refId: 'a-eth0' })))),
      record('portmap', 'a', '/run/netns/a', rulesOf('nftables', portmap('a'))),
      record('portmap', 'b', '/run/netns/b', rulesOf('nftables', portmap('b'))),
    ]
    const plan = planReconcile(records, RECONCILE_ROLES, { netnsAlive: () => true, cached: () => false })
    expect([...plan.firewall.keys()].sort()).toEqual(['iptables', 'nftables'])
    // Each portmap record's host ports, and once for the backend the node-wide loopback drop its route_localnet needs.
    expect(plan.firewall.get('nftables')!.map((x) => (x.intent.kind === 'portmap' ? x.intent.owner.containerId : x.intent.kind))).toEqual(['a', 'localnet-drop', 'b'])
    expect(plan.firewall.get('nftables')![1]!.record.containerId).toBe('a')
    expect(plan.firewall.get('iptables')!.map((x) => x.intent)).toEqual([masq('a')])
    expect(plan.spoofChecks.map((s) => s.check.refId)).toEqual(['a-eth0'])
    expect(plan.stale).toEqual([])
  })

  it('a dead namespace is stale unless the runtime cache still lists the attachment; neither gets rules restored', () => {
    const records = [
      record('bridge', 'dead', '/run/netns/dead', rulesOf('iptables', masq('dead'))),
      record('bridge', 'cached', '/run/netns/cached', rulesOf('iptables', masq('cached'))),
      record('bridge', 'none', '', rulesOf('iptables', masq('none'))),
    ]
    const plan = planReconcile(records, RECONCILE_ROLES, { netnsAlive: () => false, cached: (_n, id) => id === 'cached' })
    expect(plan.stale.map((r) => r.containerId)).toEqual(['dead', 'none'])
    expect(plan.orphanedButCached.map((r) => r.containerId)).toEqual(['cached'])
    expect(plan.firewall.size).toBe(0)
  })

  it('reports a role no part knows and unreadable rules, acting on neither', () => {
    const plan = planReconcile([record('dns', 'a', '/n', {}), record('bridge', 'b', '/n', { firewall: [{}] })], RECONCILE_ROLES, { netnsAlive: () => true, cached: () => false })
    expect(plan.problems).toEqual([expect.stringMatching(/no reconcile part for role "dns"$/), expect.stringMatching(/not a recorded firewall intent$/)])
    expect(plan.firewall.size).toBe(0)
  })

  it('a new role plugs in through the same interface', () => {
    const dns = { role: 'dns', desired: (r: AttachmentRecord) => ({ rules: [{ kind: 'firewall' as const, backend: 'nftables' as const, intent: masq(r.containerId) }], problems: [] }) }
    const plan = planReconcile([record('dns', 'a', '/n', {})], [...RECONCILE_ROLES, dns], { netnsAlive: () => true, cached: () => false })
    expect(plan.firewall.get('nftables')!.map((x) => x.record.role)).toEqual(['dns'])
  })
})
