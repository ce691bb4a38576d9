// Both families in the data plane (host-gw IPv6 next hops, one VXLAN device carrying IPv6), the reconcile of
// the device's addresses, the IPv6 firewall rules and their lock, the dual-stack conflist and status.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { iptablesNatScript, nftRemoveScript, nftScript } from '../../../src/node/firewall-rules.ts'
import { applyFirewall, removeFirewall } from '../../../src/node/kernel.ts'
import type { Lease } from '../../../src/node/leases.ts'
import { renderConflist, type NodeState } from '../../../src/node/local-files.ts'
import { firewallScopes, programmedPeers } from '../../../src/node/node-steps.ts'
import { planDataPlane, vtepMac, type Uplink } from '../../../src/node/plan.ts'
import { reconcile } from '../../../src/node/reconcile.ts'
import { nodeStatus } from '../../../src/node/status.ts'
import type { IpLink } from '../../../src/system/index.ts'
import { renderIpOp } from '../../../src/system/ip.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const net = (t: string) => parseCidr(t)!
const dualGw = parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/48', Backend: { Type: 'host-gw' } })
const dualVx = parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/48' })
const v6only = parseClusterConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd77::/48' })
const uplink: Uplink = { name: 'eth0', mtu: 1500, address: net('192.168.77.11/24'), address6: net('fd00:77::11/64') }
const lease = (n: number, type: 'vxlan' | 'host-gw', o: { ip6?: string | null; v6only?: boolean } = {}): Lease => {
  const ip = `192.168.77.${10 + n}`
  const ip6 = o.ip6 === null ? undefined : o.ip6 ?? `fd00:77::${10 + n}`
  const v6 = net(`fd77:0:0:${n}::/64`)
  return {
    key: o.v6only ? `fd77:0:0:${n}::-64` : `10.77.${n}.0-24&fd77:0:0:${n}::-64`,
    subnet: o.v6only ? v6 : net(`10.77.${n}.0/24`), ...(o.v6only ? {} : { subnet6: v6 }), publicIp: ip, ...(ip6 ? { publicIpv6: ip6 } : {}),
    backendType: type, ...(type === 'vxlan' ? { vtepMac: vtepMac(ip) } : {}),
  }
}

describe('planner, both families', () => {
  it('host-gw: an IPv6 route via each peer\'s PublicIPv6 beside the IPv4 one; peers without one, or off-segment, are skipped', () => {
    const p = planDataPlane({ config: dualGw, self: lease(1, 'host-gw'), peers: [lease(2, 'host-gw'), lease(3, 'host-gw', { ip6: null }), lease(4, 'host-gw', { ip6: '2001:db8::4' })], uplink })
    expect(p.routes).toEqual([
      { dst: '10.77.2.0/24', gw: '192.168.77.12', dev: 'eth0', onlink: false },
      { dst: 'fd77:0:0:2::/64', gw: 'fd00:77::12', dev: 'eth0', onlink: false },
      { dst: '10.77.3.0/24', gw: '192.168.77.13', dev: 'eth0', onlink: false },
      { dst: '10.77.4.0/24', gw: '192.168.77.14', dev: 'eth0', onlink: false },
    ])
    expect(p.warnings).toEqual([
      'skipping the IPv6 route to peer fd77:0:0:3::/64: its lease has no PublicIPv6 (host-gw routes IPv6 via the peer\'s IPv6 address)',
      'skipping peer fd77:0:0:4::/64: host-gw needs its PublicIPv6 2001:db8::4 on this node\'s segment fd00:77::11/64 (use vxlan across routers)',
    ])
    const noV6 = planDataPlane({ config: dualGw, self: lease(1, 'host-gw'), peers: [lease(2, 'host-gw')], uplink: { ...uplink, address6: undefined } as Uplink })
    expect(noV6.routes.map((r) => r.dst)).toEqual(['10.77.2.0/24'])
    expect(noV6.warnings[0]).toMatch(/the uplink has no global IPv6 address/)
  })

  it('vxlan: one device over the IPv4 underlay with both zero addresses; per peer one FDB entry, a neighbour and an onlink route per family', () => {
    const p = planDataPlane({ config: dualVx, self: lease(1, 'vxlan'), peers: [lease(2, 'vxlan')], uplink })
    expect(p.vxlan).toMatchObject({ name: 'tscni.1', local: '192.168.77.11', address: '10.77.1.0/32', address6: 'fd77:0:0:1::/128', mtu: 1450 })
    expect(p.fdb).toEqual([{ mac: '0e:2a:c0:a8:4d:0c', dst: '192.168.77.12', dev: 'tscni.1' }])
    expect(p.neighbours).toEqual([{ ip: '10.77.2.0', mac: '0e:2a:c0:a8:4d:0c', dev: 'tscni.1' }, { ip: 'fd77:0:0:2::', mac: '0e:2a:c0:a8:4d:0c', dev: 'tscni.1' }])
    expect(p.routes).toEqual([
      { dst: '10.77.2.0/24', gw: '10.77.2.0', dev: 'tscni.1', onlink: true },
      { dst: 'fd77:0:0:2::/64', gw: 'fd77:0:0:2::', dev: 'tscni.1', onlink: true },
    ])
  })

  it('IPv6-only vxlan: the device has the IPv6 zero address only, still over the IPv4 underlay', () => {
    const p = planDataPlane({ config: v6only, self: lease(1, 'vxlan', { v6only: true }), peers: [lease(2, 'vxlan', { v6only: true })], uplink })
    expect(p.vxlan).toMatchObject({ local: '192.168.77.11', address: 'fd77:0:0:1::/128' })
    expect(p.vxlan!.address6).toBeUndefined()
    expect(p.routes).toEqual([{ dst: 'fd77:0:0:2::/64', gw: 'fd77:0:0:2::', dev: 'tscni.1', onlink: true }])
  })
})

describe('reconcile of the device addresses', () => {
  const want = planDataPlane({ config: dualVx, self: lease(1, 'vxlan'), peers: [], uplink })
  const link = (addrs: IpLink['addrs']): IpLink => ({
    ifindex: 5, ifname: 'tscni.1', flags: ['UP'], mtu: 1450, operstate: 'UNKNOWN', address: '0e:2a:c0:a8:4d:0b', promiscuity: 0, kind: 'vxlan',
    vxlan: { id: 1, local: '192.168.77.11', link: 'eth0', port: 8472, learning: false }, addrs,
  })
  const a = (family: 'inet' | 'inet6', local: string, prefixlen: number, scope = 'global') => ({ family, local, prefixlen, scope, tentative: false, dadfailed: false })

  it('adds the IPv6 address without DAD after the IPv4 one', () => {
    const ip = reconcile(want, { routes: [], links: [], neighbours: [], fdb: [] }).ip.map(renderIpOp)
    expect(ip.slice(2, 4)).toEqual(['addr add 10.77.1.0/32 dev tscni.1', 'addr add fd77:0:0:1::/128 dev tscni.1 nodad'])
  })

  it('keeps the kernel\'s link-local address and removes a stale IPv6 address of ours', () => {
    const observed = { routes: [], neighbours: [], fdb: [], links: [link([a('inet', '10.77.1.0', 32), a('inet6', 'fd77:0:0:9::', 128), a('inet6', 'fe80::c2a:c0ff:fea8:4d0b', 64, 'link')])] }
    expect(reconcile(want, observed).ip.map(renderIpOp)).toEqual(['addr add fd77:0:0:1::/128 dev tscni.1 nodad', 'addr del fd77:0:0:9::/128 dev tscni.1'])
    const settled = { ...observed, links: [link([a('inet', '10.77.1.0', 32), a('inet6', 'fd77:0:0:1::', 128), a('inet6', 'fe80::1', 64, 'link')])] }
    expect(reconcile(want, settled).ip).toEqual([])
  })

  it('removes IPv6 routes and neighbours of peers that left', () => {
    const observed = {
      links: [link([a('inet', '10.77.1.0', 32), a('inet6', 'fd77:0:0:1::', 128)])],
      routes: [{ dst: 'fd77:0:0:2::/64', gateway: 'fd77:0:0:2::', dev: 'tscni.1', protocol: '77' }],
      neighbours: [{ dst: 'fd77:0:0:2::', lladdr: '0e:2a:c0:a8:4d:0c', state: ['PERMANENT'] }],
      fdb: [],
    }
    expect(reconcile(want, observed).ip.map(renderIpOp)).toEqual(['route del fd77:0:0:2::/64 via fd77:0:0:2:: dev tscni.1 proto 77', 'neigh del fd77:0:0:2:: dev tscni.1'])
  })
})

describe('IPv6 firewall rules', () => {
  const scope6 = { cluster: 'fd77::/48', subnet: 'fd77:0:0:1::/64' }

  it('renders ip6tables and an ip6 nft table with IPv6 multicast exempt', () => {
    const nat = iptablesNatScript(scope6, '', 6)
    expect(nat).toContain('-A TSCNI-POSTRTG -s fd77:0:0:1::/64 -d fd77::/48 -m comment --comment "pod to pod keeps its source" -j RETURN')
    expect(nat).toContain('-d ff00::/8')
    expect(nat).not.toContain('224.0.0.0/4')
    const nft = nftScript(scope6, 6)
    expect(nft).toMatch(/^add table ip6 tscni-node\ndelete table ip6 tscni-node\ntable ip6 tscni-node \{/)
    expect(nft).toContain('ip6 saddr fd77:0:0:1::/64 ip6 daddr fd77::/48 return')
    expect(nft).toContain('ip6 saddr fd77:0:0:1::/64 masquerade fully-random')
    expect(nftRemoveScript(6)).toBe('add table ip6 tscni-node\ndelete table ip6 tscni-node\n')
    expect(nftRemoveScript()).toBe('add table ip tscni-node\ndelete table ip tscni-node\n')
  })

  it('scopes each family to its network and this node\'s subnet', () => {
    expect(firewallScopes(dualVx, lease(1, 'vxlan'))).toEqual({ 4: { cluster: '10.77.0.0/16', subnet: '10.77.1.0/24' }, 6: { cluster: 'fd77::/48', subnet: 'fd77:0:0:1::/64' } })
    expect(firewallScopes(v6only, lease(1, 'vxlan', { v6only: true }))).toEqual({ 6: { cluster: 'fd77::/48', subnet: 'fd77:0:0:1::/64' } })
  })

  it.each(['iptables', 'nftables'] as const)('applies both families with %s, every read and write inside the firewall lock', async (backend) => {
    const sys = createFakeSystem()
    const events: string[] = []
    Object.assign(sys, { locker: { acquire: async (path: string) => { events.push(`lock ${path}`); return { release: async () => void events.push('unlock') } } } })
    const record = (name: string) => (...args: unknown[]) => { events.push(`${name} ${String(args[0])}`); return name.endsWith('save') ? '' : undefined }
    sys.on('netfilter.save', record('save')).on('netfilter.restore', record('restore')).on('netfilter.nftApply', record('nft'))
    await applyFirewall(sys, backend, firewallScopes(dualVx, lease(1, 'vxlan')))
    expect(events[0]).toBe('lock /run/tscni-firewall.lock')
    expect(events.at(-1)).toBe('unlock')
    expect(events.filter((e) => e.startsWith('restore 6'))).toHaveLength(backend === 'iptables' ? 2 : 1)
    const nft = sys.callsOf('netfilter.nftApply').map((c) => String(c.args[0])).join('')
    expect(nft).toContain(backend === 'nftables' ? 'table ip6 tscni-node {' : 'delete table ip6 tscni-node')
    events.length = 0
    await removeFirewall(sys)
    expect([events[0], events.at(-1)]).toEqual(['lock /run/tscni-firewall.lock', 'unlock'])
    expect(events.filter((e) => e.startsWith('save 6'))).toHaveLength(2)
  })
})

describe('dual-stack conflist, state and status', () => {
  it('gives pods a range and a default route per family', () => {
    const conf = JSON.parse(renderConflist({ name: 'c', bridge: 'cni0', subnet: '10.77.1.0/24', gateway: '10.77.1.1', mtu: 1450, subnet6: 'fd77:0:0:1::/64', gateway6: 'fd77:0:0:1::1' }))
    expect(conf.plugins[0].ipam.ranges).toEqual([[{ subnet: '10.77.1.0/24', gateway: '10.77.1.1' }], [{ subnet: 'fd77:0:0:1::/64', gateway: 'fd77:0:0:1::1' }]])
    expect(conf.plugins[0].ipam.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }])
    const only6 = JSON.parse(renderConflist({ name: 'c', bridge: 'cni0', subnet: 'fd77:0:0:1::/64', gateway: 'fd77:0:0:1::1', mtu: 1450 }))
    expect(only6.plugins[0].ipam.routes).toEqual([{ dst: '::/0' }])
  })

  it('records both routes of a peer and reports it installed only when the kernel has both', () => {
    const plan = planDataPlane({ config: dualGw, self: lease(1, 'host-gw'), peers: [lease(2, 'host-gw')], uplink })
    const peers = programmedPeers(plan.routes, [lease(2, 'host-gw')])
    expect(peers).toEqual([{ subnet: '10.77.2.0/24', publicIp: '192.168.77.12', route: 'via 192.168.77.12 dev eth0', subnet6: 'fd77:0:0:2::/64', route6: 'via fd00:77::12 dev eth0', publicIpv6: 'fd00:77::12' }])
    const state: NodeState = {
      subnet: '10.77.1.0/24', subnet6: 'fd77:0:0:1::/64', publicIp: '192.168.77.11', network: '10.77.0.0/16', network6: 'fd77::/48', backend: 'host-gw', mtu: 1500, uplink: 'eth0',
      firewall: 'iptables', cniConfFile: '/x', peers, warnings: [], updated: 'now',
    }
    const v4 = { dst: '10.77.2.0/24', gateway: '192.168.77.12', dev: 'eth0', protocol: '77' }
    const v6 = { dst: 'fd77:0:0:2::/64', gateway: 'fd00:77::12', dev: 'eth0', protocol: '77' }
    expect(nodeStatus(state, [v4, v6]).peers[0]!.installed).toBe(true)
    expect(nodeStatus(state, [v4]).peers[0]!.installed).toBe(false)
    const stray = { dst: 'fd77:0:0:9::/64', gateway: 'fd00:77::19', dev: 'eth0', protocol: '77' }
    expect(nodeStatus(state, [v4, v6, stray]).strayRoutes).toEqual(['fd77:0:0:9::/64 via fd00:77::19 dev eth0'])
    expect(nodeStatus(state, [v4, v6])).toMatchObject({ subnet6: 'fd77:0:0:1::/64', network6: 'fd77::/48' })
  })
})
