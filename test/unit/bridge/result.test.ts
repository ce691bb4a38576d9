// bridge/result.ts through the version encoder: the result shape per cniVersion.
import { describe, expect, it } from 'vitest'
import { buildPlan } from '../../../src/bridge/plan.ts'
import { buildResult } from '../../../src/bridge/result.ts'
import { hostVethName } from '../../../src/plugin/ids.ts'
import { encodeResult } from '../../../src/plugin/version.ts'
import { bridgeConfig, ipamResult, MACS } from './helpers.ts'

const VETH = hostVethName('net1', 'c1', 'eth0')
const dual = ipamResult([{ address: '10.22.0.5/16', gateway: '10.22.0.1' }, { address: 'fd22::5/64', gateway: 'fd22::1' }])

function result(extra: Record<string, unknown>, version: string, ipam: typeof dual | null = dual) {
  const config = bridgeConfig(extra, '', version)
  const plan = buildPlan({ config, containerId: 'c1', ifname: 'eth0', netns: '/run/netns/c1', bridgeMacPinned: false, macs: MACS, ...(ipam ? { ipam } : {}) })
  return encodeResult(buildResult(plan, version), version)
}

const interfaces = [
  { name: 'cni0', mac: MACS.bridge },
  { name: VETH, mac: MACS.host },
  { name: 'eth0', mac: MACS.container, sandbox: '/run/netns/c1' },
]

describe('result per version', () => {
  it.each(['1.0.0', '1.1.0'])('%s: interfaces, ips at index 2 without version, routes, no dns', (v) => {
    expect(result({ isDefaultGateway: true }, v)).toEqual({
      cniVersion: v, interfaces,
      ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 }, { address: 'fd22::5/64', gateway: 'fd22::1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.22.0.1' }, { dst: '::/0', gw: 'fd22::1' }],
    })
  })
  it.each(['0.3.1', '0.4.0'])('%s: ips carry version, dns is {}', (v) => {
    const r = result({}, v)
    expect(r.ips).toEqual([
      { version: '4', address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 },
      { version: '6', address: 'fd22::5/64', gateway: 'fd22::1', interface: 2 },
    ])
    expect(r.dns).toEqual({})
    expect(r.interfaces).toEqual(interfaces)
  })
  it('0.2.0: ip4/ip6 only', () => {
    expect(result({}, '0.2.0')).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.22.0.5/16', gateway: '10.22.0.1' }, ip6: { ip: 'fd22::5/64', gateway: 'fd22::1' }, dns: {} })
  })
  it('L2 under 0.2.0 cannot be expressed', () => {
    expect(() => result({}, '0.2.0', null)).toThrow('cannot convert: no valid IP addresses')
  })
  it('L2 under 1.0.0: interfaces only', () => {
    expect(result({}, '1.0.0', null)).toEqual({ cniVersion: '1.0.0', interfaces })
  })
  it('config dns replaces the IPAM dns', () => {
    const ipam = { ...dual, dns: { nameservers: ['10.0.0.1'] } }
    expect(result({}, '1.0.0', ipam).dns).toEqual({ nameservers: ['10.0.0.1'] })
    expect(result({ dns: { nameservers: ['9.9.9.9'], search: ['x'] } }, '1.0.0', ipam).dns).toEqual({ nameservers: ['9.9.9.9'], search: ['x'] })
  })
  it('L3 VLAN gateway interface is appended as the 4th interface; IPs stay at index 2', () => {
    const r = result({ vlan: 100, isGateway: true }, '1.0.0')
    expect((r.interfaces as unknown[])[3]).toEqual({ name: 'cni0.100', mac: MACS.vlanGateway })
    expect((r.ips as Array<{ interface: number }>).every((ip) => ip.interface === 2)).toBe(true)
  })
})
