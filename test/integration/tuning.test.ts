// The tuning role through the built executable on a real veth in a throwaway container namespace: sysctls, MTU,
// MAC (config, CNI_ARGS MAC=, runtimeConfig.mac), promisc, allmulticast and txqueuelen applied at ADD, checked by
// CHECK and restored at DEL; bad keys refused by name with nothing changed; the no-option pass-through.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { TestNetns } from '../support/netns.ts'
import { runOk, runPlugin, type PluginCall } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()

interface Container {
  ns: TestNetns
  prevResult: Record<string, unknown>
  dataDir: string
}

// A container namespace with eth0, the peer of a veth whose other end is in the test's host namespace: the shape
// bridge or ptp leaves behind, without either (the role only needs the interface and a prevResult).
async function container(): Promise<Container> {
  const ns = await node.pool.create('tscni-tu')
  await node.host.exec('ip', ['link', 'add', 'vtu0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.path])
  await ns.exec('ip', ['link', 'set', 'eth0', 'address', '02:00:00:00:aa:01', 'up'])
  await ns.exec('ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0'])
  const dataDir = mkdtempSync(join(tmpdir(), 'tscni-tuning-'))
  node.defer(() => rmSync(dataDir, { recursive: true, force: true }))
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'vtu0', mac: '02:00:00:00:bb:01' }, { name: 'eth0', mac: '02:00:00:00:aa:01', sandbox: ns.path }],
    ips: [{ address: '10.77.0.2/24', interface: 1 }],
  }
  return { ns, prevResult, dataDir }
}

function call(c: Container, verb: PluginCall['verb'], options: Record<string, unknown>, extra: Partial<PluginCall> = {}): PluginCall {
  return {
    role: 'tuning', verb, host: node.host, containerId: 'ctr-tuning', netns: c.ns.path, ifname: 'eth0',
    config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning', dataDir: c.dataDir, prevResult: c.prevResult, ...options },
    ...extra,
  }
}

async function eth0(ns: TestNetns): Promise<{ address: string; mtu: number; flags: string[]; txqlen: number }> {
  const [link] = await ns.ipJson<Array<{ address: string; mtu: number; flags: string[]; txqlen: number }>>(['link', 'show', 'dev', 'eth0'])
  return link!
}

async function sysctl(ns: TestNetns, key: string): Promise<string> {
  return (await ns.exec('cat', [`/proc/sys/${key}`])).stdout.trim()
}

describe('tuning ADD, CHECK and DEL', () => {
  it('applies sysctls (IFNAME substituted) and every link option, reports the MAC, and DEL puts the originals back', async () => {
    const c = await container()
    const before = { link: await eth0(c.ns), arp: await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify'), ping: await sysctl(c.ns, 'net/ipv4/ping_group_range') }
    const options = {
      sysctl: { 'net.ipv4.conf.IFNAME.arp_notify': '1', 'net.ipv4.ping_group_range': '0\t2147483647' },
      mac: '02:00:00:00:cc:07', mtu: 1400, promisc: true, allmulti: true, txQLen: 321,
    }
    const add = await runOk(call(c, 'ADD', options))
    expect(add.json.interfaces).toEqual([{ name: 'vtu0', mac: '02:00:00:00:bb:01' }, { name: 'eth0', mac: '02:00:00:00:cc:07', sandbox: c.ns.path }])
    expect(add.json.ips).toEqual(c.prevResult.ips)
    const after = await eth0(c.ns)
    expect(after).toMatchObject({ address: '02:00:00:00:cc:07', mtu: 1400, txqlen: 321 })
    expect(after.flags).toEqual(expect.arrayContaining(['PROMISC', 'ALLMULTI']))
    expect(await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify')).toBe('1')
    expect(await sysctl(c.ns, 'net/ipv4/ping_group_range')).toBe('0\t2147483647')
    // The backup has the reference's name, so the reference's DEL could restore it too.
    expect(readdirSync(c.dataDir)).toEqual(['ctr-tuning_eth0.json'])

    await runOk(call(c, 'CHECK', options, { config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning', dataDir: c.dataDir, prevResult: add.json, ...options } }))
    await c.ns.exec('ip', ['link', 'set', 'eth0', 'mtu', '1300'])
    const drifted = await runPlugin(call(c, 'CHECK', options, { config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning', dataDir: c.dataDir, prevResult: add.json, ...options } }))
    expect(drifted.exitCode).not.toBe(0)
    expect(drifted.json.msg).toContain('MTU of eth0 is 1400, current value is 1300')

    // DEL needs no prevResult.
    await runOk(call(c, 'DEL', {}, { config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning', dataDir: c.dataDir } }))
    const restored = await eth0(c.ns)
    expect(restored).toMatchObject({ address: before.link.address, mtu: before.link.mtu, txqlen: before.link.txqlen })
    expect(restored.flags).not.toContain('PROMISC')
    expect(restored.flags).not.toContain('ALLMULTI')
    expect(await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify')).toBe(before.arp)
    expect(await sysctl(c.ns, 'net/ipv4/ping_group_range')).toBe(before.ping)
    expect(readdirSync(c.dataDir)).toEqual([])
  })

  it.each([
    ['CNI_ARGS MAC=', {}, { args: 'IgnoreUnknown=1;MAC=02:00:00:00:dd:01' }, '02:00:00:00:dd:01'],
    ['runtimeConfig.mac (capability mac)', { runtimeConfig: { mac: '02:00:00:00:dd:02' } }, {}, '02:00:00:00:dd:02'],
    ['args.cni.mac', { args: { cni: { mac: '02:00:00:00:dd:03' } } }, {}, '02:00:00:00:dd:03'],
  ])('sets the MAC from %s and restores it', async (_what, options, extra, mac) => {
    const c = await container()
    const add = await runOk(call(c, 'ADD', options, extra))
    expect((await eth0(c.ns)).address).toBe(mac)
    expect(add.json.interfaces[1].mac).toBe(mac)
    await runOk(call(c, 'DEL', options, extra))
    expect((await eth0(c.ns)).address).toBe('02:00:00:00:aa:01')
  })

  it.each([
    ['kernel.core_pattern', 'kernel.core_pattern'],
    ['/kernel/core_pattern', '/kernel/core_pattern'],
    ['net', 'net'],
  ])('refuses the sysctl %s by name, and changes nothing', async (key, named) => {
    const c = await container()
    const before = await eth0(c.ns)
    const reply = await runPlugin(call(c, 'ADD', { sysctl: { [key]: '1' }, mtu: 1300 }))
    expect(reply.exitCode).not.toBe(0)
    expect(reply.json.code).toBe(7)
    expect(reply.json.msg).toContain(named)
    expect(await eth0(c.ns)).toEqual(before)
    expect(readdirSync(c.dataDir)).toEqual([])
  })

  it('a change the kernel refuses fails ADD naming it, and what was already applied is put back', async () => {
    const c = await container()
    const arp = await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify')
    // A multicast MAC: the kernel refuses it after the sysctl was written.
    const reply = await runPlugin(call(c, 'ADD', { sysctl: { 'net.ipv4.conf.eth0.arp_notify': arp === '1' ? '0' : '1' }, mac: '03:00:00:00:00:01' }))
    expect(reply.exitCode).not.toBe(0)
    expect(reply.json.msg).toContain('net.ipv4.conf.eth0.arp_notify')
    expect(await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify')).toBe(arp)
    expect((await eth0(c.ns)).address).toBe('02:00:00:00:aa:01')
    expect(readdirSync(c.dataDir)).toEqual([])
  })

  it('honours the allowlist when it exists: a key no line matches is refused by name', async () => {
    const c = await container()
    const allowlist = join(c.dataDir, 'allowlist.conf')
    writeFileSync(allowlist, '^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$\n\n')
    const env = { TSCNI_TUNING_ALLOWLIST: allowlist }
    const refused = await runPlugin(call(c, 'ADD', { sysctl: { 'net.ipv4.ping_group_range': '0 0' } }, { env }))
    expect(refused.exitCode).not.toBe(0)
    expect(refused.json.msg).toContain('"net.ipv4.ping_group_range" is not allowed')
    await runOk(call(c, 'ADD', { sysctl: { 'net.ipv4.conf.IFNAME.arp_notify': '1' } }, { env }))
    expect(await sysctl(c.ns, 'net/ipv4/conf/eth0/arp_notify')).toBe('1')
  })

  it('refuses a sysctl key given twice', async () => {
    const c = await container()
    const stdin = `{"cniVersion":"1.0.0","name":"tunenet","type":"tuning","dataDir":${JSON.stringify(c.dataDir)},"sysctl":{"net.ipv4.conf.eth0.arp_notify":"1","net.ipv4.conf.eth0.arp_notify":"0"},"prevResult":${JSON.stringify(c.prevResult)}}`
    const reply = await runPlugin({ ...call(c, 'ADD', {}), stdin })
    expect(reply.exitCode).not.toBe(0)
    expect(reply.json.msg).toContain('duplicated sysctl keys')
  })
})

describe('tuning with no options (podman and nerdctl chain it so)', () => {
  it('prints prevResult unchanged without looking at the namespace, and DEL without prevResult or netns succeeds', async () => {
    const c = await container()
    const gone = `/run/netns/tscni-absent-${process.pid}`
    const add = await runOk(call(c, 'ADD', {}, { netns: gone }))
    expect(add.json).toEqual(c.prevResult)
    expect(existsSync(c.dataDir) && readdirSync(c.dataDir)).toEqual([])
    await runOk(call(c, 'DEL', {}, { netns: '', config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning' } }))
  })

  it('needs prevResult at ADD', async () => {
    const c = await container()
    const reply = await runPlugin(call(c, 'ADD', {}, { config: { cniVersion: '1.0.0', name: 'tunenet', type: 'tuning' } }))
    expect(reply.json).toMatchObject({ code: 7, msg: 'Required prevResult missing' })
  })
})
