// bridge DEL tolerance, errors and rollback, CHECK negative cases, through the real executable in throwaway
// namespaces: after every failure nothing of the container is left (veth, reservation).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { bridge, bridgeConf, firewallText, bridgeOk, linkNames, reservations, type Call } from '../support/bridge.ts'
import type { TestNetns } from '../support/netns.ts'
import { useTestNode } from '../support/test-node.ts'

const CONF = 'bridge-host-local.conflist'
const node = useTestNode()
const pool = node.pool

let host: TestNetns
let ctr: TestNetns
let bin: string
let dataDir: string
let call: Call
let config: Record<string, unknown>
beforeEach(async () => {
  ;({ host, bin, dataDir } = node)
  ctr = await pool.create('tscni-c')
  call = { host, bin, containerId: 'life-1', netns: ctr.path }
  config = bridgeConf(CONF, '1.0.0', dataDir)
})

async function nothingLeft(): Promise<void> {
  expect(await firewallText(host)).not.toContain('life-1')
  expect((await linkNames(host)).filter((n) => n.startsWith('veth'))).toEqual([])
  expect(await linkNames(ctr)).toEqual(['lo'])
  expect(reservations(dataDir, 'tscni')).toEqual([])
}

describe('DEL', () => {
  it.each([
    ['empty', () => ''],
    ['missing', () => '/run/netns/tscni-gone-0000'],
    ['not a namespace', () => join(dataDir, 'plain-file')],
  ])('with a %s CNI_NETNS succeeds and releases the addresses', async (_name, netns) => {
    await bridgeOk('ADD', call, config)
    writeFileSync(join(dataDir, 'plain-file'), '')
    expect(reservations(dataDir, 'tscni')).toHaveLength(2)
    await bridgeOk('DEL', { ...call, netns: netns() }, config)
    expect(reservations(dataDir, 'tscni')).toEqual([])
    expect(await firewallText(host)).not.toContain('life-1')
    // The host veth is found by its deterministic name even without the namespace.
    expect((await linkNames(host)).filter((n) => n.startsWith('veth'))).toEqual([])
  })

  it('after the namespace was deleted: succeeds and leaves nothing', async () => {
    const gone = await pool.create('tscni-c')
    await bridgeOk('ADD', { ...call, netns: gone.path }, config)
    await gone.exec('true', [])
    await host.exec('true', [])
    const { execa } = await import('execa')
    await execa('ip', ['netns', 'del', gone.name])
    expect(await firewallText(host)).toContain('life-1')
    await bridgeOk('DEL', { ...call, netns: gone.path }, config)
    expect(reservations(dataDir, 'tscni')).toEqual([])
    expect((await linkNames(host)).filter((n) => n.startsWith('veth'))).toEqual([])
    // The reference leaks its masquerade chain here (it needs the addresses from the gone interface).
    expect(await firewallText(host)).not.toContain('life-1')
  })

  it('twice succeeds; DEL without any ADD succeeds', async () => {
    await bridgeOk('ADD', call, config)
    await bridgeOk('DEL', call, config)
    await bridgeOk('DEL', call, config)
    await bridgeOk('DEL', { ...call, containerId: 'never-added' }, config)
    await nothingLeft()
  })
})

describe('ADD errors and rollback', () => {
  it('refuses when CNI_IFNAME already exists in the container, and releases the addresses', async () => {
    await ctr.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'])
    const reply = await bridge('ADD', call, config)
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toBe(`container interface "eth0" already exists in ${ctr.path}`)
    expect(reservations(dataDir, 'tscni')).toEqual([])
    expect((await linkNames(host)).filter((n) => n.startsWith('veth'))).toEqual([])
  })

  it('a broken IPAM (unknown plugin) fails and creates nothing', async () => {
    const reply = await bridge('ADD', call, { ...config, ipam: { type: 'no-such-ipam' } })
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toContain('failed to find plugin "no-such-ipam"')
    expect(await linkNames(host)).toEqual(['lo'])
  })

  it('a link named like the bridge that is not a bridge: error, addresses released', async () => {
    await host.exec('ip', ['link', 'add', 'cni0', 'type', 'veth', 'peer', 'name', 'cni0p'])
    const reply = await bridge('ADD', call, config)
    expect(reply.json.msg).toBe('"cni0" already exists but is not a bridge')
    await nothingLeft()
  })

  it('a bridge name the kernel refuses: error, addresses released', async () => {
    const reply = await bridge('ADD', call, { ...config, bridge: 'lo' })
    expect(reply.exitCode).toBe(1)
    await nothingLeft()
  })

  it('a failure inside the container after the veth exists (unreachable route gateway): veth deleted, addresses released', async () => {
    const reply = await bridge('ADD', call, { ...config, ipam: { ...(config.ipam as object), routes: [{ dst: '10.99.0.0/16', gw: '192.0.2.1' }] } })
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toContain(`configure eth0 in ${ctr.path}`)
    await nothingLeft()
  })

  it.each(['iptables', 'nftables'])('a failing masquerade set-up (%s): veth deleted, addresses released, no rule left', async (backend) => {
    // A base chain of the wrong type where the backend needs a nat postrouting chain makes its transaction fail.
    const blocker = backend === 'iptables'
      ? 'add table ip nat\nadd chain ip nat POSTROUTING { type filter hook postrouting priority 100 ; }\n'
      : 'add table inet cni_plugins_masquerade\nadd chain inet cni_plugins_masquerade postrouting { type filter hook postrouting priority 0 ; }\n'
    await host.exec('nft', ['-f', '-'], { input: blocker })
    const reply = await bridge('ADD', call, { ...config, ipMasqBackend: backend })
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toContain(`set up ipMasq with ${backend}`)
    await nothingLeft()
  })

  it('a conflicting bridge address without forceAddress: error, veth never created, addresses released', async () => {
    await host.exec('ip', ['link', 'add', 'cni0', 'type', 'bridge'])
    await host.exec('ip', ['addr', 'add', '10.47.0.1/8', 'dev', 'cni0'])
    const reply = await bridge('ADD', call, config)
    expect(reply.json.msg).toBe('"cni0" already has an IP address different from 10.47.0.1/16')
    await nothingLeft()
  })
})

describe('CHECK', () => {
  it('passes after ADD and names what differs after a change', async () => {
    const result = (await bridgeOk('ADD', call, config)).json
    await bridgeOk('CHECK', call, { ...config, prevResult: result })
    await ctr.exec('ip', ['addr', 'del', 'fd47:7c53:1a10::2/64', 'dev', 'eth0'])
    const reply = await bridge('CHECK', call, { ...config, prevResult: result })
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toContain('Failed to match addr fd47:7c53:1a10::2/64 on interface eth0')
    await ctr.exec('ip', ['route', 'del', 'default'])
    const again = await bridge('CHECK', call, { ...config, prevResult: result })
    expect(again.json.details).toContain('Expected Route 0.0.0.0/0 via 10.47.0.1 not found in routing table')
  })

  it('fails when the host veth is gone, naming it', async () => {
    const result = (await bridgeOk('ADD', call, config)).json
    await host.exec('ip', ['link', 'set', result.interfaces[1].name, 'nomaster'])
    const reply = await bridge('CHECK', call, { ...config, prevResult: result })
    expect(reply.json.msg).toBe('CNI veth created for bridge cni0 was not found')
  })

  it('without prevResult fails with the reference message', async () => {
    await bridgeOk('ADD', call, config)
    const reply = await bridge('CHECK', call, config)
    expect(reply.json.msg).toBe('Required prevResult missing')
  })
})
