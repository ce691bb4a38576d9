// bridge/check.ts: CHECK passes on matching state and names each difference.
import { describe, expect, it } from 'vitest'
import { compareState, type Observed } from '../../../src/bridge/check.ts'
import type { Result } from '../../../src/plugin/result.ts'
import type { IpLink } from '../../../src/system/index.ts'
import { bridgeConfig } from './helpers.ts'

const NETNS = '/run/netns/c1'
const prev: Result = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: '02:00:00:00:00:01' }, { name: 'veth1', mac: '02:00:00:00:00:02' }, { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: NETNS }],
  ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 }, { address: 'fd22::5/64', gateway: 'fd22::1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.22.0.1' }, { dst: '::/0', gw: 'fd22::1' }, { dst: '10.50.0.0/16' }],
}

function link(o: Partial<IpLink> & Pick<IpLink, 'ifindex' | 'ifname'>): IpLink {
  return { flags: ['UP'], mtu: 1500, operstate: 'UP', address: '', promiscuity: 0, addrs: [], ...o }
}
const addr = (local: string, prefixlen: number) => ({ family: local.includes(':') ? 'inet6' as const : 'inet' as const, local, prefixlen, scope: 'global', tentative: false, dadfailed: false })

function observed(): Observed {
  return {
    hostLinks: [
      link({ ifindex: 1, ifname: 'lo', kind: undefined }),
      link({ ifindex: 5, ifname: 'cni0', kind: 'bridge', address: '02:00:00:00:00:01' }),
      link({ ifindex: 7, ifname: 'veth1', kind: 'veth', address: '02:00:00:00:00:02', master: 'cni0', linkIndex: 2 }),
    ],
    containerLinks: [link({ ifindex: 2, ifname: 'eth0', kind: 'veth', address: '02:00:00:00:00:03', linkIndex: 7, addrs: [addr('10.22.0.5', 16), addr('fd22::5', 64), addr('fe80::1', 64)] })],
    containerRoutes: [
      { dst: 'default', gateway: '10.22.0.1', dev: 'eth0' },
      { dst: 'default', gateway: 'fd22::1', dev: 'eth0', metric: 1024 },
      { dst: '10.50.0.0/16', gateway: '10.22.0.1', dev: 'eth0' },
    ],
  }
}

const check = (seen: Observed, p: Result = prev, extra: Record<string, unknown> = {}) => compareState(bridgeConfig(extra), 'eth0', NETNS, p, seen)

describe('CHECK comparison', () => {
  it('passes when everything matches', () => {
    expect(check(observed())).toEqual([])
  })
  it.each<[string, (o: Observed) => Observed, string]>([
    ['bridge missing', (o) => ({ ...o, hostLinks: o.hostLinks.filter((l) => l.ifname !== 'cni0') }), 'CNI created bridge cni0 in host namespace was not found'],
    ['bridge MAC changed', (o) => ({ ...o, hostLinks: o.hostLinks.map((l) => (l.ifname === 'cni0' ? { ...l, address: '02:00:00:00:00:99' } : l)) }), "Bridge interface cni0 Mac doesn't match: prevResult 02:00:00:00:00:01, found 02:00:00:00:00:99"],
    ['bridge promiscuous', (o) => ({ ...o, hostLinks: o.hostLinks.map((l) => (l.ifname === 'cni0' ? { ...l, flags: ['UP', 'PROMISC'] } : l)) }), 'configured Promisc Mode false doesn\'t match current state: true'],
    ['container interface missing', (o) => ({ ...o, containerLinks: [] }), 'CNI created interface in container eth0 not found'],
    ['container MAC changed', (o) => ({ ...o, containerLinks: o.containerLinks.map((l) => ({ ...l, address: '02:00:00:00:00:98' })) }), "Interface eth0 Mac 02:00:00:00:00:03 doesn't match container Mac: 02:00:00:00:00:98"],
    ['host veth not on the bridge', (o) => ({ ...o, hostLinks: o.hostLinks.map((l) => (l.ifname === 'veth1' ? { ...l, master: 'other' } : l)) }), 'CNI veth created for bridge cni0 was not found'],
    ['address missing', (o) => ({ ...o, containerLinks: o.containerLinks.map((l) => ({ ...l, addrs: l.addrs.filter((a) => a.local !== 'fd22::5') })) }), 'Failed to match addr fd22::5/64 on interface eth0'],
    ['IPv6 default route missing', (o) => ({ ...o, containerRoutes: o.containerRoutes.filter((r) => r.gateway !== 'fd22::1') }), 'Expected Route ::/0 via fd22::1 not found in routing table'],
    ['route missing', (o) => ({ ...o, containerRoutes: o.containerRoutes.filter((r) => r.dst !== '10.50.0.0/16') }), 'Expected Route 10.50.0.0/16 not found in routing table'],
  ])('fails when %s', (_name, mutate, msg) => {
    const problems = check(mutate(observed()))
    expect(problems.join('\n')).toContain(msg)
  })
  it('names a sandbox mismatch', () => {
    const p = { ...prev, interfaces: prev.interfaces!.map((i) => (i.name === 'eth0' ? { ...i, sandbox: '/run/netns/other' } : i)) }
    expect(check(observed(), p)).toEqual(["Sandbox in prevResult /run/netns/other doesn't match configured netns: /run/netns/c1"])
  })
  it('checks the configured promiscuous mode', () => {
    expect(check(observed(), prev, { promiscMode: true }).join()).toContain('configured Promisc Mode true')
  })
})
