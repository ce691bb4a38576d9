// Each bridge option through the real executable, with an assertion that fails if the option were ignored.
import { execa } from 'execa'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { addresses, listen, output, tcpGet, bridge, bridgeConf, bridgeOk, linkDetails, linkNames, reservations, type Call } from '../support/bridge.ts'
import type { TestNetns } from '../support/netns.ts'
import { useTestNode } from '../support/test-node.ts'

const CONF = 'bridge-host-local.conflist'
const node = useTestNode()
const pool = node.pool

let host: TestNetns
let ctr: TestNetns
let call: Call
let dataDir: string
let base: Record<string, unknown>
beforeEach(async () => {
  ;({ host, dataDir } = node)
  ctr = await pool.create('tscni-c')
  call = { host, bin: node.bin, containerId: 'opt-1', netns: ctr.path }
  base = bridgeConf(CONF, '1.0.0', dataDir, { ipMasq: false, hairpinMode: false })
})

// Some kernels (this machine's among them) are built without bridge VLAN filtering.
let vlanFiltering = false
beforeAll(async () => {
  const name = `tscni-vlanprobe-${process.pid}`
  await execa('ip', ['netns', 'add', name])
  const res = await execa('ip', ['netns', 'exec', name, 'ip', 'link', 'add', 'br0', 'type', 'bridge', 'vlan_filtering', '1'], { reject: false })
  vlanFiltering = res.exitCode === 0
  await execa('ip', ['netns', 'del', name])
})

const add = (config: Record<string, unknown>, extra: Partial<Call> = {}) => bridgeOk('ADD', { ...call, ...extra }, config).then((r) => r.json)
const containerSysctl = async (key: string) => await output(ctr, 'cat', [`/proc/sys/${key}`])

describe('gateway options', () => {
  it('bridge: the configured name is created', async () => {
    await add({ ...base, bridge: 'br-opt' })
    expect(await linkNames(host)).toContain('br-opt')
    expect(await linkNames(host)).not.toContain('cni0')
  })

  it('isGateway: gateway addresses on the bridge, forwarding on; without it neither', async () => {
    await add({ ...base, isGateway: false, isDefaultGateway: false })
    expect(await addresses(host, 'cni0')).toEqual([])
    expect(await output(host, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).toBe('0')
    await add({ ...base, isGateway: true, isDefaultGateway: false }, { containerId: 'opt-2', netns: (await pool.create('tscni-c')).path })
    expect(await addresses(host, 'cni0')).toEqual(['10.47.0.1/16', 'fd47:7c53:1a10::1/64'])
    expect(await output(host, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).toBe('1')
    expect(await output(host, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).toBe('1')
  })

  it('isDefaultGateway: a default route per family in the container; without it none', async () => {
    const r = await add({ ...base, isDefaultGateway: true })
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.47.0.1' }, { dst: '::/0', gw: 'fd47:7c53:1a10::1' }])
    const routes = await ctr.ipJson<Array<{ dst: string; gateway?: string }>>(['route', 'show', 'table', 'all'])
    expect(routes.filter((x) => x.dst === 'default').map((x) => x.gateway)).toEqual(['10.47.0.1', 'fd47:7c53:1a10::1'])
    const c2 = await pool.create('tscni-c')
    await add({ ...base, isGateway: true, isDefaultGateway: false }, { containerId: 'opt-2', netns: c2.path })
    expect((await c2.ipJson<Array<{ dst: string }>>(['route', 'show', 'table', 'all'])).filter((x) => x.dst === 'default')).toEqual([])
  })

  it('forceAddress: a conflicting bridge address is replaced', async () => {
    await host.exec('ip', ['link', 'add', 'cni0', 'type', 'bridge'])
    await host.exec('ip', ['addr', 'add', '10.47.0.1/8', 'dev', 'cni0'])
    await add({ ...base, forceAddress: true })
    expect(await addresses(host, 'cni0')).toEqual(['10.47.0.1/16', 'fd47:7c53:1a10::1/64'])
  })

  it('the bridge MAC is pinned: unchanged across ADD and DEL of ports with lower MACs', async () => {
    const r = await add(base)
    const mac = r.interfaces[0].mac
    const c2 = await pool.create('tscni-c')
    await add({ ...base, runtimeConfig: { mac: '02:00:00:00:00:01' } }, { containerId: 'opt-2', netns: c2.path })
    await bridgeOk('DEL', call, base)
    expect((await linkDetails(host, 'cni0')).address).toBe(mac)
    expect((await linkDetails(host, 'cni0')).address).not.toBe(r.interfaces[1].mac)
  })
})

describe('link options', () => {
  it('mtu: both veth ends', async () => {
    const r = await add({ ...base, mtu: 1400 })
    expect((await linkDetails(ctr, 'eth0')).mtu).toBe(1400)
    expect((await linkDetails(host, r.interfaces[1].name)).mtu).toBe(1400)
  })

  it('hairpinMode: the host veth port reflects frames', async () => {
    const r = await add({ ...base, hairpinMode: true })
    expect((await linkDetails(host, r.interfaces[1].name)).linkinfo.info_slave_data.hairpin).toBe(true)
    const c2 = await pool.create('tscni-c')
    const r2 = await add(base, { containerId: 'opt-2', netns: c2.path })
    expect((await linkDetails(host, r2.interfaces[1].name)).linkinfo.info_slave_data.hairpin).toBe(false)
  })

  it('portIsolation: the host veth port is isolated', async () => {
    const r = await add({ ...base, portIsolation: true })
    expect((await linkDetails(host, r.interfaces[1].name)).linkinfo.info_slave_data.isolated).toBe(true)
  })

  it('promiscMode: the bridge is promiscuous', async () => {
    await add({ ...base, promiscMode: true })
    expect((await linkDetails(host, 'cni0')).flags).toContain('PROMISC')
  })

  it('runtimeConfig.mac beats args.cni.mac beats CNI_ARGS MAC=', async () => {
    const r = await add({ ...base, runtimeConfig: { mac: '0a:58:0a:00:00:01' }, args: { cni: { mac: '0a:58:0a:00:00:02' } } }, { args: 'IgnoreUnknown=1;MAC=0a:58:0a:00:00:03' })
    expect(r.interfaces[2].mac).toBe('0a:58:0a:00:00:01')
    expect((await linkDetails(ctr, 'eth0')).address).toBe('0a:58:0a:00:00:01')
    const c2 = await pool.create('tscni-c')
    const r2 = await add(base, { containerId: 'opt-2', netns: c2.path, args: 'IgnoreUnknown=1;MAC=0a:58:0a:00:00:03' })
    expect((await linkDetails(c2, 'eth0')).address).toBe('0a:58:0a:00:00:03')
    expect(r2.interfaces[2].mac).toBe('0a:58:0a:00:00:03')
  })

  it('enabledad: DAD on in the container and ADD waits until no address is tentative; off by default', async () => {
    await add(base)
    expect(await containerSysctl('net/ipv6/conf/eth0/accept_dad')).toBe('0')
    const c2 = await pool.create('tscni-c')
    await add({ ...base, enabledad: true }, { containerId: 'opt-2', netns: c2.path })
    expect(await output(c2, 'cat', ['/proc/sys/net/ipv6/conf/eth0/accept_dad'])).toBe('1')
    const [eth0] = await c2.ipJson<any[]>(['addr', 'show', 'dev', 'eth0'])
    expect(eth0.addr_info.filter((a: any) => a.tentative)).toEqual([])
  })

  it('dns: the config block replaces the IPAM one in the result', async () => {
    const r = await add({ ...base, dns: { nameservers: ['10.47.0.53'], search: ['svc.local'] } })
    expect(r.dns).toEqual({ nameservers: ['10.47.0.53'], search: ['svc.local'] })
  })
})

describe('L2 and container interface', () => {
  it('L2 (no IPAM): no addresses, the interface is up; disableContainerInterface leaves it down', async () => {
    const l2 = { ...base, isGateway: false, isDefaultGateway: false, ipam: {} }
    delete (l2 as { ipam?: unknown }).ipam
    const r = await add(l2)
    expect(r.ips).toBeUndefined()
    expect((await linkDetails(ctr, 'eth0')).flags).toContain('UP')
    const c2 = await pool.create('tscni-c')
    await add({ ...l2, disableContainerInterface: true }, { containerId: 'opt-2', netns: c2.path })
    expect((await linkDetails(c2, 'eth0')).flags).not.toContain('UP')
    await bridgeOk('DEL', { ...call, containerId: 'opt-2', netns: c2.path }, { ...l2, disableContainerInterface: true })
  })

  it('disableContainerInterface with IPAM is refused with the reference message', async () => {
    const reply = await bridge('ADD', call, { ...base, disableContainerInterface: true })
    expect(reply.json).toMatchObject({ code: 7, msg: 'cannot use IPAM when DisableContainerInterface flag is set' })
  })
})

describe('ipMasq', () => {
  it.each(['iptables', 'nftables'])('%s: traffic leaving the subnet carries the host address; without ipMasq it does not', async (backend) => {
    // An "outside" network behind the host: 192.0.2.0/24 on a veth, with no route back to the container subnet.
    const outside = await pool.create('tscni-o')
    await host.exec('ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.path])
    await host.exec('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'up0'])
    await host.exec('ip', ['link', 'set', 'up0', 'up'])
    await outside.exec('ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'])
    await outside.exec('ip', ['link', 'set', 'eth0', 'up'])
    const listener = listen(outside, 9090, '$SOCAT_PEERADDR')
    node.defer(listener.stop)
    await add({ ...base, ipMasq: true, ipMasqBackend: backend })
    // The dual-stack listener sees IPv4 peers as v4-mapped IPv6: 192.0.2.1 is ...:ffff:c000:0201.
    expect(await tcpGet(ctr, '192.0.2.2', 9090)).toMatch(/:ffff:c000:0201\]$/)
    const c2 = await pool.create('tscni-c')
    await add({ ...base, ipMasq: false }, { containerId: 'opt-2', netns: c2.path })
    expect(await tcpGet(c2, '192.0.2.2', 9090, 3)).toBe('')
  })
})

describe('macspoofchk', () => {
  it('installs the reference nft rules for the container MAC and DEL removes them', async () => {
    const r = await add({ ...base, macspoofchk: true })
    const table = await output(host, 'nft', ['list', 'table', 'bridge', 'nat'])
    expect(table).toContain(`iifname "${r.interfaces[1].name}" jump cni-br-iface-opt-1-eth0`)
    expect(table).toContain(`ether saddr ${r.interfaces[2].mac} return`)
    expect(table).toContain('comment "macspoofchk-opt-1-eth0"')
    await bridgeOk('DEL', call, { ...base, macspoofchk: true })
    const after = await output(host, 'nft', ['list', 'table', 'bridge', 'nat'])
    expect(after).not.toContain('opt-1-eth0')
  })
})

describe('VLANs', () => {
  it('vlan and vlanTrunk: the port gets the VLANs, or ADD fails loudly where the kernel has no VLAN filtering', async () => {
    const config = { ...base, vlan: 100, vlanTrunk: [{ id: 101 }], isGateway: false, isDefaultGateway: false }
    const reply = await bridge('ADD', call, config)
    if (!vlanFiltering) {
      expect(reply.exitCode).toBe(1)
      expect(reply.json.msg).toContain('configure bridge cni0')
      expect(reservations(dataDir, 'tscni')).toEqual([])
      expect((await linkNames(host)).filter((n) => n.startsWith('veth'))).toEqual([])
      return
    }
    expect(reply.exitCode).toBe(0)
    const vlans = (await host.exec('bridge', ['-j', 'vlan', 'show', 'dev', reply.json.interfaces[1].name])).stdout
    expect(vlans).toContain('"vlan":100')
    expect(vlans).toContain('"vlan":101')
    expect(vlans).not.toContain('"vlan":1,')
  })
})
