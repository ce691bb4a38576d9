// The planner (peers to routes, neighbours, FDB entries, VXLAN device) and the reconcile diff against the kernel.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import type { Lease } from '../../../src/node/leases.ts'
import { planDataPlane, vtepMac, vxlanName, type DataPlane, type Uplink } from '../../../src/node/plan.ts'
import { reconcile, type Observed } from '../../../src/node/reconcile.ts'
import type { IpLink, IpRoute } from '../../../src/system/index.ts'
import { renderFdbOp, renderIpOp } from '../../../src/system/ip.ts'

const vxlan = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { Type: 'vxlan', VNI: 1 } })
const hostGw = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { Type: 'host-gw' } })
const uplink: Uplink = { name: 'eth0', mtu: 1500, address: parseCidr('192.168.77.11/24')! }
const lease = (n: number, ip = `192.168.77.${10 + n}`): Lease => ({
  key: `10.77.${n}.0-24`, subnet: parseCidr(`10.77.${n}.0/24`)!, publicIp: ip, backendType: 'vxlan', vtepMac: vtepMac(ip),
})
const gwLease = (n: number, ip = `192.168.77.${10 + n}`): Lease => ({ key: `10.77.${n}.0-24`, subnet: parseCidr(`10.77.${n}.0/24`)!, publicIp: ip, backendType: 'host-gw' })

describe('vtepMac', () => {
  it('derives a locally administered unicast MAC from the node address', () => {
    expect(vtepMac('192.168.77.11')).toBe('0e:2a:c0:a8:4d:0b')
    expect(vtepMac('10.0.0.1')).toBe('0e:2a:0a:00:00:01')
    expect(() => vtepMac('fd00::1')).toThrow(/not an IPv4/)
  })
})

describe('planDataPlane', () => {
  it('host-gw: one route per peer via its PublicIP on the uplink, never onlink', () => {
    const p = planDataPlane({ config: hostGw, self: gwLease(1), peers: [gwLease(3), gwLease(1), gwLease(2)], uplink })
    expect(p.vxlan).toBeUndefined()
    expect(p.routes).toEqual([
      { dst: '10.77.2.0/24', gw: '192.168.77.12', dev: 'eth0', onlink: false },
      { dst: '10.77.3.0/24', gw: '192.168.77.13', dev: 'eth0', onlink: false },
    ])
    expect(p.neighbours).toEqual([])
    expect(p.fdb).toEqual([])
    expect(p.warnings).toEqual([])
  })

  it('host-gw: a peer off the segment is skipped with a warning', () => {
    const p = planDataPlane({ config: hostGw, self: gwLease(1), peers: [gwLease(2, '192.168.99.2')], uplink })
    expect(p.routes).toEqual([])
    expect(p.warnings[0]).toMatch(/host-gw needs its PublicIP 192\.168\.99\.2 on this node's segment 192\.168\.77\.11\/24/)
  })

  it('skips a peer lease carrying this node\'s own PublicIP', () => {
    const p = planDataPlane({ config: hostGw, self: gwLease(1), peers: [gwLease(5, '192.168.77.11')], uplink })
    expect(p.routes).toEqual([])
    expect(p.warnings[0]).toMatch(/this node's own/)
  })

  it('vxlan: the device, and per peer a permanent neighbour, an FDB entry and an onlink route', () => {
    const p = planDataPlane({ config: vxlan, self: lease(1), peers: [lease(2), lease(3, '10.9.9.9')], uplink })
    expect(p.vxlan).toEqual({ name: 'tscni.1', vni: 1, port: 8472, local: '192.168.77.11', dev: 'eth0', mac: '0e:2a:c0:a8:4d:0b', mtu: 1450, address: '10.77.1.0/32' })
    expect(p.neighbours).toEqual([{ ip: '10.77.2.0', mac: '0e:2a:c0:a8:4d:0c', dev: 'tscni.1' }, { ip: '10.77.3.0', mac: '0e:2a:0a:09:09:09', dev: 'tscni.1' }])
    expect(p.fdb).toEqual([{ mac: '0e:2a:c0:a8:4d:0c', dst: '192.168.77.12', dev: 'tscni.1' }, { mac: '0e:2a:0a:09:09:09', dst: '10.9.9.9', dev: 'tscni.1' }])
    // vxlan works across routers: no segment check
    expect(p.routes).toEqual([
      { dst: '10.77.2.0/24', gw: '10.77.2.0', dev: 'tscni.1', onlink: true },
      { dst: '10.77.3.0/24', gw: '10.77.3.0', dev: 'tscni.1', onlink: true },
    ])
  })

  it('vxlan: MTU follows the uplink, name the VNI', () => {
    const c = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { VNI: 4242, Port: 4789 } })
    const p = planDataPlane({ config: c, self: lease(1), peers: [], uplink: { ...uplink, mtu: 9000 } })
    expect(p.vxlan).toMatchObject({ name: 'tscni.4242', mtu: 8950, port: 4789 })
    expect(vxlanName(4242)).toBe('tscni.4242')
  })
})

const vxlanLink = (over: Partial<IpLink> = {}, data: NonNullable<IpLink['vxlan']> = { id: 1, local: '192.168.77.11', link: 'eth0', port: 8472, learning: false }): IpLink => ({
  ifindex: 5, ifname: 'tscni.1', flags: ['UP'], mtu: 1450, operstate: 'UNKNOWN', address: '0e:2a:c0:a8:4d:0b', promiscuity: 0, kind: 'vxlan', vxlan: data,
  addrs: [{ family: 'inet', local: '10.77.1.0', prefixlen: 32, scope: 'global', tentative: false, dadfailed: false }], ...over,
})
const route = (dst: string, gateway: string, dev: string, protocol = '77'): IpRoute => ({ dst, gateway, dev, protocol })
const lines = (want: DataPlane, observed: Observed) => {
  const c = reconcile(want, observed)
  return { ip: c.ip.map(renderIpOp), fdb: c.fdb.map(renderFdbOp) }
}
const empty: Observed = { routes: [], links: [], neighbours: [], fdb: [] }

describe('reconcile', () => {
  const want = planDataPlane({ config: vxlan, self: lease(1), peers: [lease(2), lease(3)], uplink })

  it('from nothing: creates the device, then neighbours and routes; FDB entries in the bridge batch', () => {
    expect(lines(want, empty)).toEqual({
      ip: [
        'link add name tscni.1 type vxlan id 1 local 192.168.77.11 dev eth0 dstport 8472 nolearning',
        'link set dev tscni.1 address 0e:2a:c0:a8:4d:0b mtu 1450 up',
        'addr add 10.77.1.0/32 dev tscni.1',
        'neigh replace 10.77.2.0 lladdr 0e:2a:c0:a8:4d:0c dev tscni.1 nud permanent',
        'neigh replace 10.77.3.0 lladdr 0e:2a:c0:a8:4d:0d dev tscni.1 nud permanent',
        'route replace 10.77.2.0/24 via 10.77.2.0 dev tscni.1 onlink proto 77',
        'route replace 10.77.3.0/24 via 10.77.3.0 dev tscni.1 onlink proto 77',
      ],
      fdb: ['fdb replace 0e:2a:c0:a8:4d:0c dev tscni.1 dst 192.168.77.12 self permanent', 'fdb replace 0e:2a:c0:a8:4d:0d dev tscni.1 dst 192.168.77.13 self permanent'],
    })
  })

  it('when everything is in place: nothing to do', () => {
    const observed: Observed = {
      links: [vxlanLink()],
      routes: [route('10.77.2.0/24', '10.77.2.0', 'tscni.1'), route('10.77.3.0/24', '10.77.3.0', 'tscni.1'), route('192.168.77.0/24', '', 'eth0', 'kernel')],
      neighbours: [{ dst: '10.77.2.0', lladdr: '0e:2a:c0:a8:4d:0c', state: ['PERMANENT'] }, { dst: '10.77.3.0', lladdr: '0e:2a:c0:a8:4d:0d', state: ['PERMANENT'] }],
      fdb: [{ mac: '0e:2a:c0:a8:4d:0c', dst: '192.168.77.12' }, { mac: '0e:2a:c0:a8:4d:0d', dst: '192.168.77.13' }, { mac: '33:33:00:00:00:01' }],
    }
    expect(lines(want, observed)).toEqual({ ip: [], fdb: [] })
  })

  it('removes what a departed peer left and fixes what changed; never touches untagged routes', () => {
    const observed: Observed = {
      links: [vxlanLink({ mtu: 1400, addrs: [{ family: 'inet', local: '10.77.8.0', prefixlen: 32, scope: 'global', tentative: false, dadfailed: false }] })],
      routes: [
        route('10.77.2.0/24', '10.77.2.0', 'tscni.1'),
        route('10.77.9.0/24', '10.77.9.0', 'tscni.1'),
        route('10.77.3.0/24', '192.168.77.13', 'eth0'),
        route('10.88.0.0/16', '192.168.77.1', 'eth0', 'static'),
        { dst: '10.77.4.0/24', gateway: '1.1.1.1', dev: 'eth0', protocol: '77', table: '100' },
      ],
      neighbours: [{ dst: '10.77.2.0', lladdr: '0e:2a:c0:a8:4d:0c', state: ['PERMANENT'] }, { dst: '10.77.9.0', lladdr: '0e:2a:c0:a8:4d:19', state: ['PERMANENT'] }, { dst: '10.77.7.0', state: ['FAILED'] }],
      fdb: [{ mac: '0e:2a:c0:a8:4d:0c', dst: '192.168.77.12' }, { mac: '0e:2a:c0:a8:4d:19', dst: '192.168.77.25' }, { mac: '0e:2a:c0:a8:4d:0d', dst: '192.168.77.99' }],
    }
    expect(lines(want, observed)).toEqual({
      ip: [
        'link set dev tscni.1 address 0e:2a:c0:a8:4d:0b mtu 1450 up',
        'addr add 10.77.1.0/32 dev tscni.1',
        'addr del 10.77.8.0/32 dev tscni.1',
        'neigh replace 10.77.3.0 lladdr 0e:2a:c0:a8:4d:0d dev tscni.1 nud permanent',
        'route replace 10.77.3.0/24 via 10.77.3.0 dev tscni.1 onlink proto 77',
        'route del 10.77.9.0/24 via 10.77.9.0 dev tscni.1 proto 77',
        'neigh del 10.77.9.0 dev tscni.1',
      ],
      fdb: ['fdb replace 0e:2a:c0:a8:4d:0d dev tscni.1 dst 192.168.77.13 self permanent', 'fdb del 0e:2a:c0:a8:4d:19 dev tscni.1 dst 192.168.77.25 self'],
    })
  })

  it('recreates a device whose VNI, local address, port or learning differ, and re-adds everything on it', () => {
    for (const data of [{ id: 2, local: '192.168.77.11', link: 'eth0', port: 8472, learning: false }, { id: 1, local: '192.168.77.99', link: 'eth0', port: 8472, learning: false },
      { id: 1, local: '192.168.77.11', link: 'eth0', port: 4789, learning: false }, { id: 1, local: '192.168.77.11', link: 'eth0', port: 8472, learning: true }]) {
      const out = lines(want, { links: [vxlanLink({}, data)], routes: [route('10.77.2.0/24', '10.77.2.0', 'tscni.1')], neighbours: [{ dst: '10.77.2.0', lladdr: '0e:2a:c0:a8:4d:0c', state: ['PERMANENT'] }], fdb: [{ mac: '0e:2a:c0:a8:4d:0c', dst: '192.168.77.12' }] })
      expect(out.ip.slice(0, 4)).toEqual(['link del dev tscni.1', 'link add name tscni.1 type vxlan id 1 local 192.168.77.11 dev eth0 dstport 8472 nolearning', 'link set dev tscni.1 address 0e:2a:c0:a8:4d:0b mtu 1450 up', 'addr add 10.77.1.0/32 dev tscni.1'])
      expect(out.ip.filter((l) => l.startsWith('route replace'))).toHaveLength(2)
      expect(out.ip.filter((l) => l.includes(' del ') && !l.startsWith('link del'))).toEqual([])
      expect(out.fdb).toHaveLength(2)
    }
  })

  it('host-gw after vxlan: removes our VXLAN device (its routes go with it) and adds uplink routes', () => {
    const gw = planDataPlane({ config: hostGw, self: gwLease(1), peers: [gwLease(2)], uplink })
    expect(lines(gw, { ...empty, links: [vxlanLink(), { ...vxlanLink(), ifname: 'vxlan0' }], routes: [route('10.77.2.0/24', '10.77.2.0', 'tscni.1')] })).toEqual({
      ip: ['link del dev tscni.1', 'route replace 10.77.2.0/24 via 192.168.77.12 dev eth0 proto 77'],
      fdb: [],
    })
  })

  it('an empty plan removes every tagged route and our devices (node clean)', () => {
    const out = lines({ routes: [], neighbours: [], fdb: [], warnings: [] }, { ...empty, links: [vxlanLink({ ifname: 'tscni.7' })], routes: [route('10.77.2.0/24', '192.168.77.12', 'eth0'), route('10.77.3.0/24', '10.77.3.0', 'tscni.7'), route('10.1.0.0/16', '192.168.77.1', 'eth0', 'boot')] })
    expect(out).toEqual({ ip: ['link del dev tscni.7', 'route del 10.77.2.0/24 via 192.168.77.12 dev eth0 proto 77'], fdb: [] })
  })

  it('renders the tagged route forms', () => {
    expect(renderIpOp({ op: 'route-del', route: { dst: '10.77.2.0/24', proto: 77 } })).toBe('route del 10.77.2.0/24 proto 77')
    expect(renderIpOp({ op: 'neigh-del', ip: '10.77.2.0', dev: 'tscni.1' })).toBe('neigh del 10.77.2.0 dev tscni.1')
  })
})
