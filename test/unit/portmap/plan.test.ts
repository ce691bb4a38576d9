import { describe, expect, it } from 'vitest'
import { formatCidr } from '../../../src/plugin/addr.ts'
import type { Result } from '../../../src/plugin/result.ts'
import { parsePortmapConfig } from '../../../src/portmap/config.ts'
import { containerAddresses, hostDeviceHint, portmapIntent, udpHostPorts } from '../../../src/portmap/plan.ts'

const bridgeResult: Result = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: 'aa' }, { name: 'veth1', mac: 'bb' }, { name: 'eth0', mac: 'cc', sandbox: '/run/netns/c1' }],
  ips: [
    { address: '10.99.0.1/16', interface: 0 },
    { address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 },
    { address: '10.23.0.5/16', interface: 2 },
    { address: '2001:db8::5/64', interface: 2 },
  ],
}

describe('containerAddresses (first IPv4 and IPv6 on the container interface, as the reference)', () => {
  it('takes the first address per family on the sandboxed CNI_IFNAME, skipping host-side interfaces', () => {
    const a = containerAddresses(bridgeResult, 'eth0')
    expect(a.v4 && formatCidr(a.v4)).toBe('10.22.0.5/16')
    expect(a.v6 && formatCidr(a.v6)).toBe('2001:db8::5/64')
  })

  it('accepts addresses without an interface index or with one out of range', () => {
    const a = containerAddresses({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }, { address: 'fd00::2/64', interface: 9 }] }, 'eth0')
    expect(a.v4 && formatCidr(a.v4)).toBe('10.0.0.2/24')
    expect(a.v6 && formatCidr(a.v6)).toBe('fd00::2/64')
  })

  it('skips an interface with the right name but no sandbox, and one with another name', () => {
    const r: Result = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }, { name: 'net1', sandbox: '/x' }], ips: [{ address: '10.0.0.2/24', interface: 0 }, { address: '10.0.1.2/24', interface: 1 }] }
    expect(containerAddresses(r, 'eth0')).toEqual({})
  })
})

describe('portmapIntent', () => {
  it('carries the owner, the addresses and the options', () => {
    const config = parsePortmapConfig({ cniVersion: '1.0.0', name: 'net', runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 53, containerPort: 53, protocol: 'udp' }, { hostPort: 53, containerPort: 5353, protocol: 'udp', hostIP: '127.0.0.1' }] }, snat: false })
    const owner = { network: 'net', containerId: 'c1', ifname: 'eth0' }
    const intent = portmapIntent(config, owner, containerAddresses(bridgeResult, 'eth0'))
    expect(intent).toMatchObject({ kind: 'portmap', owner, snat: false, masqAll: false, markMasqBit: 13, mappings: config.mappings })
    expect(intent.containerV4 && formatCidr(intent.containerV4)).toBe('10.22.0.5/16')
    expect(udpHostPorts(config)).toEqual([53])
  })
})

describe('hostDeviceHint', () => {
  it('names the first interface without a sandbox (the bridge), none for a result without host interfaces', () => {
    expect(hostDeviceHint(bridgeResult)).toBe('cni0')
    expect(hostDeviceHint({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }] })).toBeUndefined()
    expect(hostDeviceHint({ cniVersion: '1.0.0' })).toBeUndefined()
  })
})
