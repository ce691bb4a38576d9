// bridge/plan.ts: the complete plan for IPv4, IPv6, dual stack, L2, VLANs, gateways, conflicts and routes.
import { describe, expect, it } from 'vitest'
import { buildPlan, type PlanInput } from '../../../src/bridge/plan.ts'
import { hostVethName } from '../../../src/plugin/ids.ts'
import type { IpLink } from '../../../src/system/index.ts'
import { bridgeConfig, ipamResult, MACS } from './helpers.ts'

const NETNS = '/run/netns/c1'
const VETH = hostVethName('net1', 'c1', 'eth0')

function plan(extra: Record<string, unknown>, more: Partial<PlanInput> = {}) {
  return buildPlan({ config: bridgeConfig(extra), containerId: 'c1', ifname: 'eth0', netns: NETNS, bridgeMacPinned: false, macs: MACS, ...more })
}

function bridgeLink(addrs: Array<[string, number]> = [], extra: Partial<IpLink> = {}): IpLink {
  return { ifindex: 5, ifname: 'cni0', flags: ['UP'], mtu: 1500, operstate: 'UP', address: '02:aa:00:00:00:01', promiscuity: 0, kind: 'bridge', addrs: addrs.map(([local, prefixlen]) => ({ family: local.includes(':') ? 'inet6' as const : 'inet' as const, local, prefixlen, scope: 'global', tentative: false, dadfailed: false })), ...extra }
}

const v4 = ipamResult([{ address: '10.22.0.5/16', gateway: '10.22.0.1' }])
const v6 = ipamResult([{ address: 'fd22::5/64', gateway: 'fd22::1' }])
const dual = ipamResult([{ address: '10.22.0.5/16', gateway: '10.22.0.1' }, { address: 'fd22::5/64', gateway: 'fd22::1' }])

describe('IPv4 gateway bridge, bridge missing', () => {
  const p = plan({ isDefaultGateway: true }, { ipam: v4 })
  it('creates the bridge with a pinned MAC, then the gateway address, then the veth', () => {
    expect(p.hostOps).toEqual([
      { op: 'bridge-add', name: 'cni0', mac: MACS.bridge },
      { op: 'link-set', name: 'cni0', up: true },
      { op: 'addr-add', cidr: '10.22.0.1/16', dev: 'cni0' },
      { op: 'veth-add', a: { name: VETH, mac: MACS.host, mtu: undefined }, b: { name: 'eth0', mac: MACS.container, mtu: undefined, netns: NETNS } },
      { op: 'link-set', name: VETH, master: 'cni0', up: true },
    ])
    expect(p.vethIndex).toBe(3)
  })
  it('configures the container in one batch: address, up, default route', () => {
    expect(p.containerOps).toEqual([
      { op: 'addr-add', cidr: '10.22.0.5/16', dev: 'eth0' },
      { op: 'link-set', name: 'eth0', up: true },
      { op: 'route-add', route: { dst: '0.0.0.0/0', gw: '10.22.0.1', dev: 'eth0' } },
    ])
    expect(p.containerSysctls.map((s) => s.key)).toEqual(['net/ipv6/conf/eth0/accept_dad', 'net/ipv4/conf/eth0/arp_notify'])
    expect(p.containerSysctls[0]!.value).toBe('0')
  })
  it('enables IPv4 forwarding only, and records result IPs at interface 2 with the default route', () => {
    expect(p.forwarding).toEqual(['net/ipv4/ip_forward'])
    expect(p.ips).toEqual([{ address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 }])
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.22.0.1' }])
    expect(p.waitDad).toBe(false)
    expect(p.masq).toBeUndefined()
  })
})

describe('IPv6 and dual stack', () => {
  it('IPv6: enables IPv6 in the container and keeps addresses on down; IPv6 forwarding', () => {
    const p = plan({ isDefaultGateway: true }, { ipam: v6 })
    expect(p.containerSysctls).toEqual(expect.arrayContaining([
      { key: 'net/ipv6/conf/lo/disable_ipv6', value: '0' },
      { key: 'net/ipv6/conf/eth0/disable_ipv6', value: '0' },
      { key: 'net/ipv6/conf/eth0/keep_addr_on_down', value: '1' },
    ]))
    expect(p.forwarding).toEqual(['net/ipv6/conf/all/forwarding'])
    expect(p.routes).toEqual([{ dst: '::/0', gw: 'fd22::1' }])
  })
  it('dual stack: one default route per family, both gateway addresses on the bridge', () => {
    const p = plan({ isDefaultGateway: true }, { ipam: dual })
    expect(p.hostOps.filter((o) => o.op === 'addr-add')).toEqual([
      { op: 'addr-add', cidr: '10.22.0.1/16', dev: 'cni0' },
      { op: 'addr-add', cidr: 'fd22::1/64', dev: 'cni0', nodad: true },
    ])
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.22.0.1' }, { dst: '::/0', gw: 'fd22::1' }])
    expect(p.forwarding).toEqual(['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding'])
  })
  it('enabledad turns DAD on and makes ADD wait for it', () => {
    const p = plan({ enabledad: true }, { ipam: v6 })
    expect(p.containerSysctls.slice(0, 2)).toEqual([
      { key: 'net/ipv6/conf/eth0/enhanced_dad', value: '1', optional: true },
      { key: 'net/ipv6/conf/eth0/accept_dad', value: '1', optional: true },
    ])
    expect(p.waitDad).toBe(true)
  })
})

describe('gateways', () => {
  it('without isGateway: no bridge address, no forwarding, gateway from IPAM passed through', () => {
    const p = plan({}, { ipam: v4 })
    expect(p.hostOps.some((o) => o.op === 'addr-add')).toBe(false)
    expect(p.forwarding).toEqual([])
    expect(p.ips[0]!.gateway).toBe('10.22.0.1')
  })
  it('isGateway computes network+1 when IPAM gave no gateway', () => {
    const p = plan({ isGateway: true }, { ipam: ipamResult([{ address: '10.30.4.9/22' }]) })
    expect(p.ips[0]!.gateway).toBe('10.30.4.1')
    expect(p.hostOps).toContainEqual({ op: 'addr-add', cidr: '10.30.4.1/22', dev: 'cni0' })
  })
  it('an existing bridge with the exact address gets nothing new; its MAC is pinned once when not yet pinned', () => {
    const p = plan({ isGateway: true }, { ipam: v4, bridge: bridgeLink([['10.22.0.1', 16]]) })
    expect(p.hostOps.slice(0, p.vethIndex)).toEqual([{ op: 'link-set', name: 'cni0', address: '02:aa:00:00:00:01', up: true }])
    expect(p.bridge.mac).toBe('02:aa:00:00:00:01')
    const pinned = plan({ isGateway: true }, { ipam: v4, bridge: bridgeLink([['10.22.0.1', 16]]), bridgeMacPinned: true })
    expect(pinned.hostOps[0]).toEqual({ op: 'link-set', name: 'cni0', up: true })
  })
  it('a different IPv4 address on the bridge is a conflict', () => {
    expect(() => plan({ isGateway: true }, { ipam: v4, bridge: bridgeLink([['10.22.0.1', 8]]) })).toThrow('"cni0" already has an IP address different from 10.22.0.1/16')
  })
  it('forceAddress replaces the conflicting address', () => {
    const p = plan({ isGateway: true, forceAddress: true }, { ipam: v4, bridge: bridgeLink([['10.22.0.1', 8]]) })
    expect(p.hostOps.filter((o) => o.op.startsWith('addr'))).toEqual([
      { op: 'addr-del', cidr: '10.22.0.1/8', dev: 'cni0' },
      { op: 'addr-add', cidr: '10.22.0.1/16', dev: 'cni0' },
    ])
  })
  it('IPv6: a non-overlapping address coexists, an overlapping one conflicts', () => {
    expect(plan({ isGateway: true }, { ipam: v6, bridge: bridgeLink([['fd99::1', 64], ['fe80::1', 64]]) }).hostOps).toContainEqual({ op: 'addr-add', cidr: 'fd22::1/64', dev: 'cni0', nodad: true })
    expect(() => plan({ isGateway: true }, { ipam: v6, bridge: bridgeLink([['fd22::1', 48]]) })).toThrow('already has an IP address different from fd22::1/64')
  })
  it('an existing link that is not a bridge is refused', () => {
    expect(() => plan({}, { bridge: bridgeLink([], { kind: 'veth' }) })).toThrow('"cni0" already exists but is not a bridge')
  })
  it('IPAM without IPs is refused', () => {
    expect(() => plan({}, { ipam: ipamResult([]) })).toThrow('IPAM plugin returned missing IP config')
  })
})

describe('routes (identical duplicates dropped: the kernel refuses them)', () => {
  it('isDefaultGateway adds no second default route when IPAM already has one without gw', () => {
    const p = plan({ isDefaultGateway: true }, { ipam: ipamResult([{ address: '10.22.0.5/16', gateway: '10.22.0.1' }], [{ dst: '0.0.0.0/0' }]) })
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0' }])
    expect(p.containerOps.filter((o) => o.op === 'route-add')).toEqual([{ op: 'route-add', route: { dst: '0.0.0.0/0', gw: '10.22.0.1', dev: 'eth0' } }])
  })
  it('identical IPAM routes are applied once; priority, table and scope are kept', () => {
    const p = plan({}, { ipam: ipamResult([{ address: '10.22.0.5/16', gateway: '10.22.0.1' }], [{ dst: '10.50.0.0/16' }, { dst: '10.50.0.0/16', gw: '10.22.0.1' }, { dst: '10.60.0.0/16', priority: 5, table: 100, scope: 0 }]) })
    expect(p.containerOps.filter((o) => o.op === 'route-add')).toEqual([
      { op: 'route-add', route: { dst: '10.50.0.0/16', gw: '10.22.0.1', dev: 'eth0' } },
      { op: 'route-add', route: { dst: '10.60.0.0/16', gw: '10.22.0.1', metric: 5, table: 100, scope: 0, dev: 'eth0' } },
    ])
  })
})

describe('L2 and port options', () => {
  it('L2: no addresses, no sysctls, the interface still goes up', () => {
    const p = plan({})
    expect(p.containerOps).toEqual([{ op: 'link-set', name: 'eth0', up: true }])
    expect(p.containerSysctls).toEqual([])
    expect(p.ips).toEqual([])
  })
  it('disableContainerInterface leaves it down and does not wait for the port', () => {
    const p = plan({ disableContainerInterface: true })
    expect(p.containerOps).toEqual([])
    expect(p.waitPort).toBe(false)
  })
  it('hairpin, isolation, promisc, mtu and an explicit MAC', () => {
    const p = plan({ hairpinMode: true, portIsolation: true, mtu: 1400, runtimeConfig: { mac: '0a:58:00:00:00:09' } })
    expect(p.hostOps).toContainEqual({ op: 'port-flags', name: VETH, hairpin: true, isolated: true })
    expect(p.hostOps).toContainEqual({ op: 'bridge-add', name: 'cni0', mac: MACS.bridge, mtu: 1400 })
    expect(p.hostOps).toContainEqual({ op: 'veth-add', a: { name: VETH, mac: MACS.host, mtu: 1400 }, b: { name: 'eth0', mac: '0a:58:00:00:00:09', mtu: 1400, netns: NETNS } })
    expect(p.container.mac).toBe('0a:58:00:00:00:09')
    expect(plan({ promiscMode: true }).hostOps[1]).toEqual({ op: 'link-set', name: 'cni0', promisc: true, up: true })
  })
  it('ipMasq and macspoofchk become intents', () => {
    const p = plan({ ipMasq: true, macspoofchk: true }, { ipam: v4 })
    expect(p.masq).toEqual({ kind: 'masquerade', owner: { network: 'net1', containerId: 'c1', ifname: 'eth0' }, addresses: [expect.objectContaining({ prefix: 16 })] })
    expect(p.spoofCheck).toEqual({ hostVeth: VETH, mac: MACS.container, refId: 'c1-eth0' })
    expect(plan({ ipMasq: true }).masq).toBeUndefined() // L2: nothing to masquerade
  })
})

describe('VLANs', () => {
  it('vlan: filtering bridge, the default VLAN removed, the VLAN as PVID untagged', () => {
    const p = plan({ vlan: 100 })
    expect(p.hostOps[0]).toEqual({ op: 'bridge-add', name: 'cni0', mac: MACS.bridge, vlanFiltering: true })
    expect(p.vlanOps).toEqual([{ op: 'vlan-del', dev: VETH, vid: 1 }, { op: 'vlan-add', dev: VETH, vid: 100, native: true }])
  })
  it('trunk with preserveDefaultVlan keeps VLAN 1 and adds tagged VLANs', () => {
    const p = plan({ vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 201 }], preserveDefaultVlan: true })
    expect(p.vlanOps).toEqual([{ op: 'vlan-add', dev: VETH, vid: 101 }, { op: 'vlan-add', dev: VETH, vid: 200 }, { op: 'vlan-add', dev: VETH, vid: 201 }])
  })
  it('L3 with vlan: the gateway lives on a <bridge>.<vlan> veth whose peer is an access port', () => {
    const p = plan({ vlan: 100, isGateway: true }, { ipam: v4 })
    expect(p.vlanGateway).toEqual({ name: 'cni0.100', mac: MACS.vlanGateway })
    expect(p.hostOps).toContainEqual({ op: 'addr-add', cidr: '10.22.0.1/16', dev: 'cni0.100' })
    expect(p.hostOps.findIndex((o) => o.op === 'addr-add')).toBeLessThan(p.vethIndex)
    expect(p.vlanOps.slice(0, 2)).toEqual([{ op: 'vlan-del', dev: expect.stringMatching(/^veth/), vid: 1 }, { op: 'vlan-add', dev: expect.stringMatching(/^veth/), vid: 100, native: true }])
  })
  it('no vlan: no filtering, no VLAN ops', () => {
    const p = plan({})
    expect(p.hostOps[0]).toEqual({ op: 'bridge-add', name: 'cni0', mac: MACS.bridge })
    expect(p.vlanOps).toEqual([])
  })
})
