// Cluster config parsing and subnet leasing decisions: cutting the cluster CIDR, key names, which subnet to take.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { ClusterConfigError, clusterConfigJson, parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { chooseSubnet, isNodeSubnet, parseSubnetKey, subnetAt, subnetCount, subnetKey, subnetText } from '../../../src/node/subnets.ts'

const config = parseClusterConfig({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } })
const net = (t: string) => parseCidr(t)!

describe('parseClusterConfig', () => {
  it('reads flannel-shaped settings with defaults', () => {
    const c = parseClusterConfig({ Network: '10.77.3.4/16' })
    expect(subnetText(c.network)).toBe('10.77.0.0/16')
    expect(c.subnetLen).toBe(24)
    expect(c.backend).toEqual({ type: 'vxlan', vni: 1, port: 8472 })
    expect(clusterConfigJson(c)).toEqual({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan', VNI: 1, Port: 8472 } })
    expect(parseClusterConfig({ Network: '10.0.0.0/8', SubnetLen: 20, Backend: { Type: 'host-gw', VNI: 7, Port: 4789 } }).backend).toEqual({ type: 'host-gw', vni: 7, port: 4789 })
  })

  it.each([
    [null, /not a JSON object/],
    [[], /not a JSON object/],
    [{}, /Network must be an IPv4 CIDR .*got undefined/],
    [{ Network: 'fd00::/48' }, /Network must be an IPv4 CIDR/],
    [{ Network: '10.77.0.0' }, /Network must be an IPv4 CIDR/],
    [{ Network: '10.77.0.0/16', SubnetLen: 16 }, /SubnetLen 16 must be longer than the Network's \/16/],
    [{ Network: '10.77.0.0/16', SubnetLen: 31 }, /SubnetLen must be an integer from 8 to 30 \(got 31\)/],
    [{ Network: '10.77.0.0/16', SubnetLen: '24' }, /SubnetLen must be an integer/],
    [{ Network: '10.77.0.0/16', Backend: { Type: 'udp' } }, /Backend.Type must be "host-gw" or "vxlan" \(got "udp"\)/],
    [{ Network: '10.77.0.0/16', Backend: { VNI: 0 } }, /Backend.VNI must be an integer from 1 to 16777215 \(got 0\)/],
    [{ Network: '10.77.0.0/16', Backend: { VNI: 2 ** 24 } }, /Backend.VNI/],
    [{ Network: '10.77.0.0/16', Backend: { Port: 70000 } }, /Backend.Port must be an integer from 1 to 65535/],
    [{ Network: '10.77.0.0/16', Backend: 'vxlan' }, /Backend must be an object/],
  ])('refuses %j', (value, message) => {
    expect(() => parseClusterConfig(value)).toThrow(ClusterConfigError)
    expect(() => parseClusterConfig(value)).toThrow(message)
  })

  it('lists every problem at once', () => {
    const err = (() => { try { parseClusterConfig({ Network: 'x', Backend: { Type: 'x', VNI: -1 } }) } catch (e) { return e as ClusterConfigError } })()!
    expect(err.problems).toHaveLength(3)
  })
})

describe('subnets', () => {
  it('names keys as flannel does and parses them back, refusing anything else', () => {
    expect(subnetKey(net('10.77.1.0/24'))).toBe('10.77.1.0-24')
    expect(subnetText(parseSubnetKey('10.77.1.0-24')!)).toBe('10.77.1.0/24')
    for (const bad of ['10.77.1.1-24', '10.77.1.0/24', '10.77.1.0-33', '10.77.1-24', 'fd00::-64', '10.77.1.0-24x', '300.1.1.0-24', '']) {
      expect(parseSubnetKey(bad), bad).toBeUndefined()
    }
  })

  it('cuts the cluster CIDR into node subnets, skipping the first (it holds the network address)', () => {
    expect(subnetCount(config)).toBe(255)
    expect(subnetText(subnetAt(config, 0)!)).toBe('10.77.1.0/24')
    expect(subnetText(subnetAt(config, 254)!)).toBe('10.77.255.0/24')
    expect(subnetAt(config, 255)).toBeUndefined()
    expect(subnetAt(config, -1)).toBeUndefined()
    const small = parseClusterConfig({ Network: '192.168.0.0/24', SubnetLen: 26 })
    expect([0, 1, 2].map((i) => subnetText(subnetAt(small, i)!))).toEqual(['192.168.0.64/26', '192.168.0.128/26', '192.168.0.192/26'])
  })

  it('knows which subnets are node subnets of the cluster', () => {
    expect(isNodeSubnet(config, net('10.77.9.0/24'))).toBe(true)
    expect(isNodeSubnet(config, net('10.77.0.0/24'))).toBe(false)
    expect(isNodeSubnet(config, net('10.78.1.0/24'))).toBe(false)
    expect(isNodeSubnet(config, net('10.77.1.0/25'))).toBe(false)
    expect(isNodeSubnet(config, net('10.77.1.5/24'))).toBe(false)
  })
})

describe('chooseSubnet', () => {
  const me = '192.168.77.11'
  it('takes the lowest free subnet', () => {
    expect(chooseSubnet({ config, taken: [], publicIp: me })).toMatchObject({ key: '10.77.1.0-24', reason: 'free' })
    const taken = [{ key: '10.77.1.0-24', publicIp: '192.168.77.12' }, { key: '10.77.2.0-24' }]
    expect(chooseSubnet({ config, taken, publicIp: me })).toMatchObject({ key: '10.77.3.0-24', reason: 'free' })
  })

  it('gets its old subnet back by PublicIP before anything else', () => {
    const taken = [{ key: '10.77.1.0-24', publicIp: '192.168.77.12' }, { key: '10.77.5.0-24', publicIp: me }]
    expect(chooseSubnet({ config, taken, publicIp: me, previous: net('10.77.7.0/24') })).toMatchObject({ key: '10.77.5.0-24', reason: 'public-ip' })
  })

  it('with several leases of its PublicIP, prefers the state file one, else the lowest', () => {
    const taken = [{ key: '10.77.9.0-24', publicIp: me }, { key: '10.77.4.0-24', publicIp: me }]
    expect(chooseSubnet({ config, taken, publicIp: me })).toMatchObject({ key: '10.77.4.0-24' })
    expect(chooseSubnet({ config, taken, publicIp: me, previous: net('10.77.9.0/24') })).toMatchObject({ key: '10.77.9.0-24' })
  })

  it('ignores a lease of its PublicIP that is not a node subnet of this config (the config changed)', () => {
    const taken = [{ key: '10.77.4.0-25', publicIp: me }]
    expect(chooseSubnet({ config, taken, publicIp: me })).toMatchObject({ key: '10.77.1.0-24', reason: 'free' })
  })

  it('takes the state file subnet when it is free and still valid', () => {
    expect(chooseSubnet({ config, taken: [], publicIp: me, previous: net('10.77.7.0/24') })).toMatchObject({ key: '10.77.7.0-24', reason: 'state-file' })
    // taken by another node, or no longer a node subnet: a free one instead
    expect(chooseSubnet({ config, taken: [{ key: '10.77.7.0-24', publicIp: '192.168.77.99' }], publicIp: me, previous: net('10.77.7.0/24') })).toMatchObject({ key: '10.77.1.0-24', reason: 'free' })
    expect(chooseSubnet({ config, taken: [], publicIp: me, previous: net('10.99.7.0/24') })).toMatchObject({ reason: 'free' })
  })

  it('says so when the cluster is full', () => {
    const tiny = parseClusterConfig({ Network: '10.0.0.0/29', SubnetLen: 30 })
    expect(chooseSubnet({ config: tiny, taken: [{ key: '10.0.0.4-30' }], publicIp: me })).toBeUndefined()
  })
})
