// Interop of the tuning and bandwidth roles with Debian's reference plugins (/usr/lib/cni) in one chain: ours after
// the reference bridge, the reference's after our bridge. The options are applied, the qdiscs and the ifb exist,
// CHECK passes, and after DEL nothing is left: no veth, no ifb, no backup, no reservation. Then each implementation's
// DEL undoes the other's ADD (the backup file and the ifb name are shared).
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { CniRuntime, type ConfList } from '../support/cni-runtime.ts'
import type { TestNetns } from '../support/netns.ts'
import { binDir, runOk } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const ROLES = ['bridge', 'host-local', 'tuning', 'bandwidth'] as const

// A bin dir where the roles in `reference` are Debian's and the others tscni.
function mixedBin(reference: ReadonlyArray<(typeof ROLES)[number]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-tb-bin-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of ROLES) symlinkSync(reference.includes(name) ? join('/usr/lib/cni', name) : join(binDir(), 'tscni'), join(dir, name))
  return dir
}

function tuningDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-tb-tuning-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// cniVersion 1.0.0: the newest the reference plugins here (Debian's 1.1.1) speak.
function network(tuningData: string): ConfList {
  return {
    cniVersion: '1.0.0',
    name: 'tbnet',
    plugins: [
      { type: 'bridge', bridge: 'cni-tb0', isGateway: true, ipam: { type: 'host-local', dataDir: node.dataDir, ranges: [[{ subnet: '10.94.0.0/24' }]] } },
      { type: 'tuning', dataDir: tuningData, mtu: 1400, sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' }, capabilities: { mac: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  }
}

const CAPS = { mac: '02:00:00:00:7b:01', bandwidth: { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 16_000_000, egressBurst: 160_000 } }

async function link(ns: TestNetns, dev: string): Promise<{ address: string; mtu: number }> {
  const [l] = await ns.ipJson<Array<{ address: string; mtu: number }>>(['link', 'show', 'dev', dev])
  return l!
}

async function rootRate(dev: string): Promise<number | undefined> {
  const qdiscs = JSON.parse(String((await node.host.exec('tc', ['-j', 'qdisc', 'show', 'dev', dev])).stdout)) as Array<{ kind: string; root?: boolean; options?: { rate?: number } }>
  return qdiscs.find((q) => q.root && q.kind === 'tbf')?.options?.rate
}

describe.each([
  ['the reference bridge with our tuning and bandwidth', ['bridge', 'host-local'] as const],
  ['our bridge with the reference tuning and bandwidth', ['tuning', 'bandwidth'] as const],
])('interop: %s', (_name, reference) => {
  it('ADD applies tuning and shapes, CHECK passes, DEL leaves nothing', async () => {
    const data = tuningDir()
    const cni = new CniRuntime(network(data), { binDir: mixedBin(reference), hostNetns: node.host.name })
    const c = await node.pool.create('tscni-tb')
    const att = { containerId: 'tb-1', netns: c.path, ifname: 'eth0', capabilityArgs: CAPS }
    const result = await cni.add(att)
    expect(await link(c, 'eth0')).toMatchObject({ address: CAPS.mac, mtu: 1400 })
    expect(String((await c.exec('cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify'])).stdout).trim()).toBe('1')
    const hostVeth = result.interfaces.find((i: { name: string; sandbox?: string }) => i.name.startsWith('veth') && !i.sandbox).name
    const ifb = result.interfaces.find((i: { name: string }) => i.name.startsWith('bwp')).name
    expect(await rootRate(hostVeth)).toBe(1_000_000)
    expect(await rootRate(ifb)).toBe(2_000_000)
    expect(readdirSync(data)).toEqual(['tb-1_eth0.json'])
    await cni.check(att)

    await cni.del(att)
    await cni.del(att)
    expect(await linkNames(node.host)).toEqual(['cni-tb0', 'lo'])
    expect(await linkNames(c)).toEqual(['lo'])
    expect(readdirSync(data)).toEqual([])
    expect(reservations(node.dataDir, 'tbnet')).toEqual([])
  })
})

describe('one implementation undoes the other', () => {
  // A container interface whose peer is in the host namespace, as a bridge leaves it.
  async function container(): Promise<{ ns: TestNetns; prevResult: Record<string, unknown> }> {
    const ns = await node.pool.create('tscni-tb')
    await node.host.exec('ip', ['link', 'add', 'vtb0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.path])
    await node.host.exec('ip', ['link', 'set', 'vtb0', 'up'])
    await ns.exec('ip', ['link', 'set', 'eth0', 'address', '02:00:00:00:7b:aa', 'up'])
    return { ns, prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'vtb0' }, { name: 'eth0', sandbox: ns.path }], ips: [] } }
  }

  it.each([
    ['ours', 'the reference\'s', binDir(), '/usr/lib/cni'],
    ['the reference\'s', 'ours', '/usr/lib/cni', binDir()],
  ] as const)('tuning: %s ADD, %s DEL restores MAC and MTU; bandwidth: the DEL removes the ifb', async (_a, _d, addDir, delDir) => {
    const { ns, prevResult } = await container()
    const data = tuningDir()
    const base = { cniVersion: '1.0.0', name: 'tbnet', host: node.host, containerId: 'tb-2', netns: ns.path, ifname: 'eth0' }
    const tuning = { type: 'tuning', dataDir: data, mac: '02:00:00:00:7b:02', mtu: 1300 }
    const bandwidth = { type: 'bandwidth', egressRate: 8_000_000, egressBurst: 80_000 }
    const call = (role: string, verb: 'ADD' | 'DEL', dir: string, config: Record<string, unknown>) =>
      runOk({ role, verb, host: node.host, containerId: base.containerId, netns: base.netns, ifname: 'eth0', binDir: dir, config: { cniVersion: base.cniVersion, name: base.name, ...config } })

    await call('tuning', 'ADD', addDir, { ...tuning, prevResult })
    expect(await link(ns, 'eth0')).toMatchObject({ address: '02:00:00:00:7b:02', mtu: 1300 })
    await call('tuning', 'DEL', delDir, tuning)
    expect(await link(ns, 'eth0')).toMatchObject({ address: '02:00:00:00:7b:aa', mtu: 1500 })
    expect(readdirSync(data)).toEqual([])

    await call('bandwidth', 'ADD', addDir, { ...bandwidth, prevResult })
    expect((await linkNames(node.host)).filter((n) => n.startsWith('bwp'))).toHaveLength(1)
    await call('bandwidth', 'DEL', delDir, bandwidth)
    expect((await linkNames(node.host)).filter((n) => n.startsWith('bwp'))).toEqual([])
  })
})
