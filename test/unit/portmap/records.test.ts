// portmap and its attachment record, with a fake firewall and a recording records port: ADD records the intent
// with the backend used (and the config, runtimeConfig, result); a record that cannot be written rolls the rules
// back; DEL removes the record; GC prunes invalid ones; STATUS names an unwritable state dir (code 50).
import { describe, expect, it } from 'vitest'
import type { FirewallBackend } from '../../../src/firewall/backend.ts'
import { intentFromJson } from '../../../src/firewall/intent-json.ts'
import type { Firewall } from '../../../src/firewall/select.ts'
import type { AttachmentRecord, AttachmentRecords, RecordKey } from '../../../src/plugin/attachment-record.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { parseEnv, type Verb } from '../../../src/plugin/env.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace, type Context } from '../../../src/plugin/role.ts'
import { createPortmap } from '../../../src/portmap/handlers.ts'
import { asyncErrorOf } from '../../support/errors.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const PREV = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }], ips: [{ address: '10.47.0.5/16', interface: 0 }] }
const MAPPINGS = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]

function recorder(fail = false) {
  const log = { written: [] as Array<{ record: AttachmentRecord; stateDir: string | undefined }>, removed: [] as RecordKey[], pruned: [] as string[] }
  const records: AttachmentRecords = {
    write: (record, stateDir) => { if (fail) throw new CniError(5, 'failed to write the attachment record /s/x: open /s/x: read-only file system'); log.written.push({ record, stateDir }) },
    remove: (key) => void log.removed.push(key),
    read: (key) => log.written.map((w) => w.record).findLast((r) => r.role === key.role && r.network === key.network && r.containerId === key.containerId && r.ifname === key.ifname),
    prune: (role, network, valid) => { log.pruned.push(`${role}:${network}:${valid.map((v) => v.containerID).join(',')}`); return [] },
    assertWritable: () => { if (fail) throw new CniError(5, 'the state directory /s is not writable: mkdir /s: read-only file system') },
  }
  return { log, records }
}

function setup(fail = false) {
  const calls: string[] = []
  const backend: FirewallBackend = {
    name: 'nftables',
    ensure: async () => void calls.push('ensure'),
    remove: async (_kind, _owner, recorded) => void calls.push(recorded ? `remove:${recorded.map((i) => (i.kind === 'portmap' ? i.mappings.map((m) => m.hostPort).join('+') : i.kind)).join(',')}` : 'remove'),
    verify: async () => undefined,
    gc: async () => undefined,
  }
  const asked: Array<readonly string[] | undefined> = []
  const fw: Firewall = { select: async () => backend, usable: async () => [backend], removable: (only) => (asked.push(only), [backend]), probe: async () => ({ iptables: false, nftables: true }) }
  const rec = recorder(fail)
  const sys = createFakeSystem()
  sys.on('ip.routeDev', () => 'cni0')
  const ctx = (verb: Verb, conf: Record<string, unknown>): Context => {
    const env = parseEnv(verb, { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/bin' })
    const stdin = JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'portmap', ...conf })
    return { env, conf: decodeNetConf(stdin, verb), stdin, sys, ipam: undefined as never, log: silentLogger, trace: noTrace, records: rec.records }
  }
  return { calls, rec, ctx, asked, sys, role: createPortmap({ firewall: () => fw }) }
}

describe('portmap attachment records', () => {
  it('ADD records the intent with its backend, the config, runtimeConfig, netns and result', async () => {
    const { rec, ctx, role } = setup()
    await role.add(ctx('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS }, stateDir: '/own' }))
    expect(rec.log.written).toHaveLength(1)
    const { record, stateDir } = rec.log.written[0]!
    expect(stateDir).toBe('/own')
    expect(record).toMatchObject({ version: 1, role: 'portmap', network: 'net1', containerId: 'c1', ifname: 'eth0', netns: '/run/netns/c1', runtimeConfig: { portMappings: MAPPINGS }, result: { ips: PREV.ips } })
    const recorded = intentFromJson(JSON.parse(JSON.stringify((record.rules as { firewall: unknown[] }).firewall[0])))
    expect(recorded).toMatchObject({ backend: 'nftables', intent: { kind: 'portmap', mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } })
  })

  it('no mappings: nothing to own, nothing recorded', async () => {
    const { rec, ctx, role } = setup()
    await role.add(ctx('ADD', { prevResult: PREV }))
    expect(rec.log.written).toEqual([])
  })

  it('a record that cannot be written fails the ADD with its cause and removes the rules just added', async () => {
    const { calls, ctx, role } = setup(true)
    const err = await asyncErrorOf(role.add(ctx('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } })))
    expect(err).toMatchObject({ code: 5, message: expect.stringContaining('read-only file system') })
    expect(calls).toEqual(['ensure', 'ensure', 'remove'])
  })

  it('DEL removes from the backends its record names, and from every backend without a record', async () => {
    const { ctx, role, asked, calls } = setup()
    await role.add(ctx('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }))
    await role.del(ctx('DEL', { runtimeConfig: { portMappings: MAPPINGS } }))
    const unrecorded = setup()
    await unrecorded.role.del(unrecorded.ctx('DEL', { runtimeConfig: { portMappings: MAPPINGS } }))
    expect([asked, unrecorded.asked]).toEqual([[['nftables']], [undefined]])
    expect(calls.filter((c) => c.startsWith('remove'))).toEqual(['remove:8080'])
  })

  it('DEL flushes UDP conntrack entries only in the families its record names, in both without a record', async () => {
    const udp = [{ hostPort: 5353, containerPort: 53, protocol: 'udp' }]
    const recorded = setup()
    await recorded.role.add(recorded.ctx('ADD', { prevResult: PREV, runtimeConfig: { portMappings: udp } }))
    await recorded.role.del(recorded.ctx('DEL', { runtimeConfig: { portMappings: udp } }))
    const unrecorded = setup()
    await unrecorded.role.del(unrecorded.ctx('DEL', { runtimeConfig: { portMappings: udp } }))
    const flushes = (x: ReturnType<typeof setup>) => x.sys.callsOf('conntrack.flushUdpPorts').map((c) => c.args[0])
    // ADD flushes IPv4 (its only address), DEL IPv4 again; without the record DEL flushes both.
    expect([flushes(recorded), flushes(unrecorded)]).toEqual([[4, 4], [4, 6]])
  })

  it('DEL removes the record, GC prunes by the valid attachments, STATUS names an unwritable state dir', async () => {
    const { rec, ctx, role } = setup()
    await role.del(ctx('DEL', {}))
    expect(rec.log.removed).toEqual([{ role: 'portmap', network: 'net1', containerId: 'c1', ifname: 'eth0' }])
    await role.gc(ctx('GC', { 'cni.dev/valid-attachments': [{ containerID: 'c9', ifname: 'eth0' }] }))
    expect(rec.log.pruned).toEqual(['portmap:net1:c9'])
    const failing = setup(true)
    const err = await asyncErrorOf(failing.role.status(failing.ctx('STATUS', {})))
    expect(err).toMatchObject({ code: 50, message: 'cannot serve an ADD: the state directory /s is not writable: mkdir /s: read-only file system' })
  })
})
