// system/proc-route.ts: /proc/net/route as a kernel printed it (little-endian host), and its longest match.
import { describe, expect, it } from 'vitest'
import { longestMatchDev, parseProcRoute } from '../../../src/system/proc-route.ts'

// Recorded on a Debian 12 node with a bridge (cni0 10.22.0.0/16), a /24 more specific route and a down route.
const TEXT = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
  'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
  'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  'cni0\t0000160A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
  'vxlan0\t0005160A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  'dummy0\t0000170A\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0',
  '',
].join('\n')

describe('parseProcRoute', () => {
  it('swaps little-endian words back to network order and skips routes that are not up', () => {
    const routes = parseProcRoute(TEXT, true)
    expect(routes.map((r) => r.dev)).toEqual(['eth0', 'eth0', 'cni0', 'vxlan0'])
    expect(routes[1]).toEqual({ dev: 'eth0', dst: 0xc0000200, mask: 0xffffff00, metric: 0 })
    expect(routes[2]).toMatchObject({ dst: 0x0a160000, mask: 0xffff0000 })
  })

  it('reads big-endian words as they are', () => {
    expect(parseProcRoute('h\ncni0\t0A160000\t0\t0001\t0\t0\t5\tFFFF0000', false)).toEqual([{ dev: 'cni0', dst: 0x0a160000, mask: 0xffff0000, metric: 5 }])
  })
})

describe('longestMatchDev', () => {
  const routes = parseProcRoute(TEXT, true)
  it('takes the longest prefix, falling back to the default route', () => {
    expect(longestMatchDev(routes, '10.22.0.5')).toBe('cni0')
    expect(longestMatchDev(routes, '10.22.5.9')).toBe('vxlan0')
    expect(longestMatchDev(routes, '10.23.0.5')).toBe('eth0')
    expect(longestMatchDev(routes, '192.0.2.7')).toBe('eth0')
  })

  it('prefers the lower metric among equal prefixes; nothing for no match or a malformed address', () => {
    const two = parseProcRoute('h\nb\t0000160A\t0\t0001\t0\t0\t200\t0000FFFF\na\t0000160A\t0\t0001\t0\t0\t100\t0000FFFF', true)
    expect(longestMatchDev(two, '10.22.1.1')).toBe('a')
    expect(longestMatchDev(two, '10.9.1.1')).toBeUndefined()
    expect(longestMatchDev(two, '10.22.1')).toBeUndefined()
  })
})
