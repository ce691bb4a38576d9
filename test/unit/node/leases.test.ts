// Trust nothing read from the store: every malformed or conflicting lease is skipped with a warning.
import { describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { checkMac, checkPublicIp, leaseValue, parseLeases, type StoreEntry } from '../../../src/node/leases.ts'

const vxlan = parseClusterConfig({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan', VNI: 1 } })
const hostGw = parseClusterConfig({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' } })
const P = '/tscni/network/subnets/'
const entry = (key: string, value: unknown): StoreEntry => ({ key: P + key, value: typeof value === 'string' ? value : JSON.stringify(value) })
const good = (ip: string, mac: string) => ({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } })

describe('parseLeases', () => {
  it('accepts well-formed leases and round-trips what a node writes', () => {
    const value = leaseValue({ key: '10.77.2.0-24', subnet: { ip: { family: 4, value: 0n }, prefix: 24 }, publicIp: '192.168.77.12', backendType: 'vxlan', vtepMac: '0e:2a:c0:a8:4d:0c' }, 1)
    const r = parseLeases([entry('10.77.1.0-24', good('192.168.77.11', '0E:2A:C0:A8:4D:0B')), { key: `${P}10.77.2.0-24`, value }], vxlan, P)
    expect(r.warnings).toEqual([])
    expect(r.leases.map((l) => [l.key, l.publicIp, l.vtepMac])).toEqual([['10.77.1.0-24', '192.168.77.11', '0e:2a:c0:a8:4d:0b'], ['10.77.2.0-24', '192.168.77.12', '0e:2a:c0:a8:4d:0c']])
    expect(r.taken).toEqual([{ key: '10.77.1.0-24', publicIp: '192.168.77.11' }, { key: '10.77.2.0-24', publicIp: '192.168.77.12' }])
  })

  it('reads host-gw leases without backend data', () => {
    const r = parseLeases([entry('10.77.3.0-24', { PublicIP: '192.168.77.13', BackendType: 'host-gw' })], hostGw, P)
    expect(r.leases).toEqual([expect.objectContaining({ key: '10.77.3.0-24', publicIp: '192.168.77.13', backendType: 'host-gw' })])
    expect(r.leases[0]!.vtepMac).toBeUndefined()
  })

  it.each([
    ['10.78.1.0-24', good('192.168.77.11', '0e:2a:c0:a8:4d:0b'), /10\.78\.1\.0\/24 is not a \/24 node subnet of the cluster network 10\.77\.0\.0\/16/],
    ['10.77.1.0-25', good('192.168.77.11', '0e:2a:c0:a8:4d:0b'), /is not a \/24 node subnet/],
    ['10.77.0.0-24', good('192.168.77.11', '0e:2a:c0:a8:4d:0b'), /is the cluster's first subnet, which holds the network address 10\.77\.0\.0 and is never leased/],
    ['10.77.1.0-24', 'not json', /the value is not JSON/],
    ['10.77.1.0-24', '[1]', /not a JSON object/],
    ['10.77.1.0-24', good('192.168.77.300', '0e:2a:c0:a8:4d:0b'), /PublicIP "192\.168\.77\.300" is not a unicast IPv4 address/],
    ['10.77.1.0-24', good('127.0.0.1', '0e:2a:c0:a8:4d:0b'), /PublicIP/],
    ['10.77.1.0-24', good('224.0.0.1', '0e:2a:c0:a8:4d:0b'), /PublicIP/],
    ['10.77.1.0-24', good('fd00::1', '0e:2a:c0:a8:4d:0b'), /PublicIP/],
    ['10.77.1.0-24', { ...good('192.168.77.11', 'x'), PublicIP: 7 }, /PublicIP 7/],
    ['10.77.1.0-24', good('192.168.77.11', '01:00:5e:00:00:01'), /VtepMAC "01:00:5e:00:00:01" is not a unicast MAC/],
    ['10.77.1.0-24', good('192.168.77.11', '00:00:00:00:00:00'), /VtepMAC/],
    ['10.77.1.0-24', good('192.168.77.11', '0e:2a:c0:a8:4d'), /VtepMAC/],
    ['10.77.1.0-24', { PublicIP: '192.168.77.11', BackendType: 'vxlan' }, /BackendData.VNI undefined differs/],
    ['10.77.1.0-24', { PublicIP: '192.168.77.11', BackendType: 'vxlan', BackendData: { VNI: 2, VtepMAC: '0e:2a:c0:a8:4d:0b' } }, /VNI 2 differs from the cluster's 1/],
    ['10.77.1.0-24', { PublicIP: '192.168.77.11', BackendType: 'host-gw' }, /BackendType "host-gw" differs from the cluster's "vxlan"/],
    ['garbage', good('192.168.77.11', '0e:2a:c0:a8:4d:0b'), /does not name a subnet/],
  ])('skips %s = %j with a warning', (key, value, why) => {
    const r = parseLeases([entry(key, value), entry('10.77.9.0-24', good('192.168.77.19', '0e:2a:c0:a8:4d:13'))], vxlan, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.9.0-24'])
    expect(r.warnings).toHaveLength(1)
    expect(r.warnings[0]).toContain(`ignoring lease "${P}${key}"`)
    expect(r.warnings[0]).toMatch(why)
  })

  it('keeps unreadable entries as taken (their key blocks the subnet) but never as leases', () => {
    const r = parseLeases([entry('10.77.1.0-24', 'junk')], vxlan, P)
    expect(r.taken).toEqual([{ key: '10.77.1.0-24' }])
    expect(r.leases).toEqual([])
  })

  it('skips both of two leases of one subnet (a peers file may list a subnet twice; store keys cannot)', () => {
    const r = parseLeases([entry('10.77.2.0-24', good('192.168.77.11', '0e:2a:c0:a8:4d:0b')), entry('10.77.2.0-24', good('192.168.77.12', '0e:2a:c0:a8:4d:0c')),
      entry('10.77.3.0-24', good('192.168.77.13', '0e:2a:c0:a8:4d:0d'))], vxlan, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.3.0-24'])
    expect(r.warnings).toEqual([`ignoring lease "${P}10.77.2.0-24": it overlaps the lease 10.77.2.0-24`])
  })

  it('ignores keys outside the subnets prefix', () => {
    expect(parseLeases([{ key: '/tscni/network/config', value: '{}' }], vxlan, P)).toEqual({ leases: [], taken: [], warnings: [] })
  })
})

describe('address checks', () => {
  it('checkPublicIp accepts only canonical unicast IPv4 text', () => {
    expect(checkPublicIp('192.168.77.11')).toBe('192.168.77.11')
    for (const bad of ['0.1.2.3', '127.0.0.1', '239.1.1.1', '255.255.255.255', '192.168.077.11', ' 192.168.77.11', '', undefined, 5]) expect(checkPublicIp(bad), String(bad)).toBeUndefined()
  })
  it('checkMac lower-cases and refuses group and zero addresses', () => {
    expect(checkMac('0E:2A:00:00:00:01')).toBe('0e:2a:00:00:00:01')
    for (const bad of ['ff:ff:ff:ff:ff:ff', '33:33:00:00:00:01', '00:00:00:00:00:00', '0e-2a-00-00-00-01', '0e:2a:00:00:00', null]) expect(checkMac(bad), String(bad)).toBeUndefined()
  })
})
