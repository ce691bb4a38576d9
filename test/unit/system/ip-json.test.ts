// system/ip-json.ts on recorded `ip -j` output (test/fixtures/ip, iproute2 6.1; the tentative sample is `ip -j addr` without -d, taken while DAD ran).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseLinks, parseRouteGetDev, parseRoutes } from '../../../src/system/ip-json.ts'

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/ip/${name}`, import.meta.url), 'utf8')

describe('ip -j parsers', () => {
  it('a bridge with an address', () => {
    const [br] = parseLinks(fixture('bridge-addr.json'))
    expect(br).toMatchObject({ ifindex: 2, ifname: 'br0', kind: 'bridge', address: '02:aa:bb:cc:dd:01', vlanFiltering: false, promiscuity: 0 })
    expect(br!.addrs).toEqual([
      { family: 'inet', local: '10.9.0.1', prefixlen: 24, scope: 'global', tentative: false, dadfailed: false },
      { family: 'inet6', local: 'fe80::aa:bbff:fecc:dd01', prefixlen: 64, scope: 'link', tentative: false, dadfailed: false },
    ])
  })
  it('a bridge port with hairpin and isolation', () => {
    const veth = parseLinks(fixture('host-links.json')).find((l) => l.ifname === 'vethabc')
    expect(veth).toMatchObject({ kind: 'veth', slaveKind: 'bridge', master: 'br0', linkIndex: 2, hairpin: true, isolated: true })
  })
  it('a container veth with settled addresses', () => {
    const [eth0] = parseLinks(fixture('container-addr.json'))
    expect(eth0!.addrs.map((a) => [a.local, a.tentative])).toEqual([['10.9.0.5', false], ['fd00:9::5', false], ['fe80::aa:bbff:fecc:dd03', false]])
  })
  it('a container veth with tentative IPv6 addresses (DAD running)', () => {
    const [eth0] = parseLinks(fixture('container-addr-tentative.json'))
    expect(eth0).toMatchObject({ ifname: 'eth0', linkIndex: 3, operstate: 'UP' })
    expect(eth0!.addrs.map((a) => [a.local, a.tentative])).toEqual([['10.9.0.5', false], ['fd00:9::5', true], ['fe80::aa:bbff:fecc:dd03', true]])
  })
  it('a link that is not a bridge', () => {
    expect(parseLinks(fixture('not-bridge-addr.json'))[0]!.kind).toBe('veth')
  })
  it('routes of both families, all tables', () => {
    const routes = parseRoutes(fixture('container-routes.json'))
    expect(routes[0]).toEqual({ dst: 'default', gateway: '10.9.0.1', dev: 'eth0' })
    expect(routes.find((r) => r.gateway === 'fd00:9::1')).toEqual({ dst: 'default', gateway: 'fd00:9::1', dev: 'eth0', metric: 5 })
    expect(routes.find((r) => r.type === 'local')?.table).toBe('local')
  })
  it('empty output is an empty list; garbage is an error', () => {
    expect(parseLinks('')).toEqual([])
    expect(() => parseLinks('{')).toThrow('unexpected ip -j output')
    expect(() => parseRoutes('[{"x":1}]')).toThrow('lacks dst')
  })
})

describe('parseRouteGetDev', () => {
  it('reads the output device of ip -j route get', () => {
    expect(parseRouteGetDev('[{"dst":"10.9.0.5","dev":"d0","prefsrc":"10.9.0.1","flags":[],"uid":0,"cache":[]}]\n')).toBe('d0')
  })
  it('is undefined when the reply names no device', () => {
    expect(parseRouteGetDev('[{"dst":"10.9.0.5","type":"blackhole"}]')).toBeUndefined()
  })
})
