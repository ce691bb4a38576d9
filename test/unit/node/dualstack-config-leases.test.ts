// IPv6 in the cluster config, the lease keys and values, and the choice of a node's subnets (dual-stack and
// IPv6-only); IPv4-only configs keep their exact shape.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { ClusterConfigError, clusterConfigJson, parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { checkPublicIpv6, leaseValue, ownLease, parseLeases, type StoreEntry } from '../../../src/node/leases.ts'
import { parseStaticCluster } from '../../../src/node/static-peers.ts'
import { chooseSubnet, leaseKey, parseLeaseKey, parseSubnetPart, subnetAt, subnetText } from '../../../src/node/subnets.ts'

const net = (t: string) => parseCidr(t)!
const dual = parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/48', Backend: { Type: 'host-gw' } })
const dualVxlan = parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/48' })
const v6only = parseClusterConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd77::/48', IPv6SubnetLen: 64, Backend: { Type: 'host-gw' } })
const P = '/tscni/network/subnets/'
const entry = (key: string, value: unknown): StoreEntry => ({ key: P + key, value: typeof value === 'string' ? value : JSON.stringify(value) })
const hostGw = (ip: string, ip6?: unknown) => ({ PublicIP: ip, ...(ip6 !== undefined ? { PublicIPv6: ip6 } : {}), BackendType: 'host-gw' })

describe('cluster config with IPv6', () => {
  it('reads dual-stack settings (flannel names, IPv6SubnetLen defaults to 64) and stores them back', () => {
    expect(subnetText(dual.ipv6!.network)).toBe('fd77::/48')
    expect(dual.ipv6!.subnetLen).toBe(64)
    expect(clusterConfigJson(dual)).toEqual({ Network: '10.77.0.0/16', SubnetLen: 24, EnableIPv6: true, IPv6Network: 'fd77::/48', IPv6SubnetLen: 64, Backend: { Type: 'host-gw', VNI: 1, Port: 8472 } })
    expect(parseClusterConfig(clusterConfigJson(dual))).toEqual(dual)
  })

  it('reads an IPv6-only config: the IPv6 pool is the primary one and Network is not needed', () => {
    expect(subnetText(v6only.network)).toBe('fd77::/48')
    expect(v6only.subnetLen).toBe(64)
    expect(v6only.ipv6).toBeUndefined()
    expect(clusterConfigJson(v6only)).toEqual({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd77::/48', IPv6SubnetLen: 64, Backend: { Type: 'host-gw', VNI: 1, Port: 8472 } })
    expect(parseClusterConfig(clusterConfigJson(v6only))).toEqual(v6only)
  })

  it('keeps an IPv4-only config exactly as it was (EnableIPv6 false or absent)', () => {
    const c = parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: false, IPv6Network: 'fd77::/48' })
    expect(c.ipv6).toBeUndefined()
    expect(clusterConfigJson(c)).toEqual({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan', VNI: 1, Port: 8472 } })
  })

  it.each([
    [{ Network: '10.77.0.0/16', EnableIPv6: true }, /IPv6Network must be an IPv6 CIDR .*got undefined/],
    [{ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: '10.78.0.0/16' }, /IPv6Network must be an IPv6 CIDR/],
    [{ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/64' }, /IPv6SubnetLen 64 must be longer than the IPv6Network's \/64/],
    [{ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/16' }, /by 1 to 32 bits/],
    [{ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: 'fd77::/112', IPv6SubnetLen: 124 }, /IPv6SubnetLen must be an integer from 8 to 120 \(got 124\)/],
    [{ Network: '10.77.0.0/16', EnableIPv6: 'yes', IPv6Network: 'fd77::/48' }, /EnableIPv6 must be true or false/],
    [{ EnableIPv4: false }, /EnableIPv6 must be true/],
    [{ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd77::/48', Backend: { Type: 'udp' } }, /Backend.Type must be/],
  ])('refuses %j', (value, message) => {
    expect(() => parseClusterConfig(value)).toThrow(ClusterConfigError)
    expect(() => parseClusterConfig(value)).toThrow(message)
  })
})

describe('lease keys in both families', () => {
  it('names dual-stack keys as flannel does and parses each part in canonical form only', () => {
    expect(leaseKey([net('10.77.1.0/24'), net('fd77:0:0:1::/64')])).toBe('10.77.1.0-24&fd77:0:0:1::-64')
    expect(parseLeaseKey('10.77.1.0-24&fd77:0:0:1::-64')!.map(subnetText)).toEqual(['10.77.1.0/24', 'fd77:0:0:1::/64'])
    expect(subnetText(parseSubnetPart('fd77::-64')!)).toBe('fd77::/64')
    for (const bad of ['fd77:0:0:1:0::-64', 'FD77:0:0:1::-64', 'fd77:0:0:1::1-64', 'fd77::-129', 'fd77::-', '10.77.1.0-24&fd77::-64&fd78::-64', '10.77.1.0-24&']) {
      expect(parseLeaseKey(bad), bad).toBeUndefined()
    }
  })

  it('pairs a node\'s subnets by index and reserves the first subnet of each network', () => {
    expect(subnetText(subnetAt(dual.ipv6!, 0)!)).toBe('fd77:0:0:1::/64')
    expect(chooseSubnet({ config: dual, taken: [], publicIp: '192.168.77.11' })).toMatchObject({ key: '10.77.1.0-24&fd77:0:0:1::-64', reason: 'free' })
    expect(subnetText(chooseSubnet({ config: dual, taken: [], publicIp: '192.168.77.11' })!.subnet6!)).toBe('fd77:0:0:1::/64')
    expect(chooseSubnet({ config: v6only, taken: [], publicIp: '192.168.77.11' })).toMatchObject({ key: 'fd77:0:0:1::-64', reason: 'free' })
  })

  it('treats a subnet as used whichever key names it, and takes back our own or the state file\'s', () => {
    // The IPv6 half of index 1 is held by another key: index 1 is not free as a pair.
    const taken = [{ key: '10.77.9.0-24&fd77:0:0:1::-64', publicIp: '192.168.77.12' }, { key: '10.77.2.0-24' }]
    expect(chooseSubnet({ config: dual, taken, publicIp: '192.168.77.11' })).toMatchObject({ key: '10.77.3.0-24&fd77:0:0:3::-64' })
    expect(chooseSubnet({ config: dual, taken, publicIp: '192.168.77.12' })).toMatchObject({ key: '10.77.9.0-24&fd77:0:0:1::-64', reason: 'public-ip' })
    expect(chooseSubnet({ config: dual, taken, publicIp: '192.168.77.11', previous: net('10.77.7.0/24') })).toMatchObject({ key: '10.77.7.0-24&fd77:0:0:7::-64', reason: 'state-file' })
    expect(chooseSubnet({ config: v6only, taken: [], publicIp: '192.168.77.11', previous: net('fd77:0:0:7::/64') })).toMatchObject({ key: 'fd77:0:0:7::-64', reason: 'state-file' })
  })
})

describe('dual-stack and IPv6-only leases', () => {
  it('round-trips what a node writes, PublicIPv6 included', () => {
    const own = ownLease(dual, net('10.77.2.0/24'), '192.168.77.12', '0e:2a:c0:a8:4d:0c', { subnet6: net('fd77:0:0:2::/64'), publicIpv6: 'fd00:77::12' })
    expect(own.key).toBe('10.77.2.0-24&fd77:0:0:2::-64')
    expect(JSON.parse(leaseValue(own, 1))).toEqual({ PublicIP: '192.168.77.12', PublicIPv6: 'fd00:77::12', BackendType: 'host-gw' })
    const r = parseLeases([{ key: P + own.key, value: leaseValue(own, 1) }], dual, P)
    expect(r.warnings).toEqual([])
    expect(r.leases).toEqual([own])
    // IPv4-only clusters never record a PublicIPv6.
    const v4 = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { Type: 'host-gw' } })
    expect(leaseValue(ownLease(v4, net('10.77.2.0/24'), '192.168.77.12', 'x', { publicIpv6: 'fd00:77::12' }), 1)).toBe('{"PublicIP":"192.168.77.12","BackendType":"host-gw"}')
  })

  it('reads IPv6-only leases with and without a PublicIPv6 (null as flannel writes it)', () => {
    const r = parseLeases([entry('fd77:0:0:1::-64', hostGw('192.168.77.11', 'fd00:77::11')), entry('fd77:0:0:2::-64', hostGw('192.168.77.12', null))], v6only, P)
    expect(r.warnings).toEqual([])
    expect(r.leases.map((l) => [subnetText(l.subnet), l.publicIpv6])).toEqual([['fd77:0:0:1::/64', 'fd00:77::11'], ['fd77:0:0:2::/64', undefined]])
  })

  it.each([
    ['10.77.1.0-24&fd78:0:0:1::-64', hostGw('192.168.77.11'), dual, /fd78:0:0:1::\/64 is not a \/64 node subnet of the cluster's IPv6 network fd77::\/48/],
    ['10.77.1.0-24&fd77:0:0:1::-80', hostGw('192.168.77.11'), dual, /is not a \/64 node subnet/],
    ['10.77.1.0-24&fd77::-64', hostGw('192.168.77.11'), dual, /fd77::\/64 is not a \/64 node subnet/],
    ['10.77.1.0-24', hostGw('192.168.77.11'), dual, /no IPv6 subnet is not a \/64 node subnet/],
    ['10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11', 'fe80::1'), dual, /PublicIPv6 "fe80::1" is not a global unicast IPv6 address/],
    ['10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11', 'ff02::1'), dual, /PublicIPv6/],
    ['10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11', '::1'), dual, /PublicIPv6/],
    ['10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11', 'FD00:77::11'), dual, /PublicIPv6/],
    ['10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11', 7), dual, /PublicIPv6 7/],
    ['fd77:0:0:1::-64', hostGw('192.168.77.11', 'not-an-ip'), v6only, /PublicIPv6 "not-an-ip"/],
    ['fd78:0:0:1::-64', hostGw('192.168.77.11'), v6only, /fd78:0:0:1::\/64 is not a \/64 node subnet of the cluster network fd77::\/48/],
    ['10.77.1.0-24', hostGw('192.168.77.11'), v6only, /is not a \/64 node subnet/],
    ['fd77:0:0:1:0::-64', hostGw('192.168.77.11'), v6only, /the key does not name subnets as "ipv6::-len"/],
  ])('skips %s = %j with a warning', (key, value, config, why) => {
    const okKey = config === dual ? '10.77.9.0-24&fd77:0:0:9::-64' : 'fd77:0:0:9::-64'
    const r = parseLeases([entry(key, value), entry(okKey, hostGw('192.168.77.19'))], config, P)
    expect(r.leases.map((l) => l.key)).toEqual([okKey])
    expect(r.warnings).toHaveLength(1)
    expect(r.warnings[0]).toContain(`ignoring lease "${P}${key}"`)
    expect(r.warnings[0]).toMatch(why)
  })

  it('skips a dual-stack key in an IPv4-only cluster, and both leases whose IPv6 subnets overlap', () => {
    const v4 = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { Type: 'host-gw' } })
    expect(parseLeases([entry('10.77.1.0-24&fd77:0:0:1::-64', hostGw('192.168.77.11'))], v4, P).warnings[0]).toMatch(/does not name a subnet/)
    const r = parseLeases([entry('10.77.1.0-24&fd77:0:0:5::-64', hostGw('192.168.77.11')), entry('10.77.2.0-24&fd77:0:0:5::-64', hostGw('192.168.77.12')),
      entry('10.77.3.0-24&fd77:0:0:3::-64', hostGw('192.168.77.13'))], dual, P)
    expect(r.leases.map((l) => l.publicIp)).toEqual(['192.168.77.13'])
    expect(r.warnings.filter((w) => /overlaps the lease/.test(w))).toHaveLength(2)
  })

  it('checks PublicIPv6 text', () => {
    expect(checkPublicIpv6('2001:db8::1')).toBe('2001:db8::1')
    expect(checkPublicIpv6('fd00:77::11')).toBe('fd00:77::11')
    for (const bad of ['::', '::1', 'fe80::1', 'febf::1', 'ff02::1', '2001:DB8::1', '2001:db8:0::1', '::ffff:1.2.3.4', '192.168.1.1', '', null]) expect(checkPublicIpv6(bad), String(bad)).toBeUndefined()
  })

  it('reads a dual-stack peers file (IPv6Subnet, PublicIPv6) and skips a node whose IPv6Subnet is not a network', () => {
    const c = parseStaticCluster(JSON.stringify({
      ...clusterConfigJson(dualVxlan),
      Nodes: [
        { Subnet: '10.77.1.0/24', IPv6Subnet: 'fd77:0:0:1::/64', PublicIP: '192.168.77.11', PublicIPv6: 'fd00:77::11' },
        { Subnet: '10.77.2.0/24', IPv6Subnet: 'fd77:0:0:2::/64', PublicIP: '192.168.77.12' },
        { Subnet: '10.77.3.0/24', IPv6Subnet: 'bogus', PublicIP: '192.168.77.13' },
      ],
    }))
    expect(c.leases.map((l) => [l.key, l.publicIpv6])).toEqual([['10.77.1.0-24&fd77:0:0:1::-64', 'fd00:77::11'], ['10.77.2.0-24&fd77:0:0:2::-64', undefined]])
    expect(c.warnings).toEqual(['ignoring Nodes[2]: IPv6Subnet "bogus" is not a network such as "fd77:0:0:1::/64"'])
  })
})
