// The host-local config: range order and folding, requested IPs from three routes, version limit, errors.
import { describe, expect, it } from 'vitest'
import { parseIpamConfig, parseStoreLocation } from '../../../src/ipam/config.ts'
import { parseValidAttachments } from '../../../src/plugin/attachments.ts'
import { rangeSetToString } from '../../../src/ipam/range.ts'
import { formatIp } from '../../../src/plugin/addr.ts'
import type { NetConf } from '../../../src/plugin/config.ts'
import { parseCniArgs } from '../../../src/plugin/env.ts'

function conf(raw: Record<string, unknown>, cniVersion = '1.0.0'): NetConf {
  return { cniVersion, name: 'mynet', type: 'host-local', raw: { cniVersion, name: 'mynet', ...raw } }
}
const noArgs = parseCniArgs('')
const parse = (raw: Record<string, unknown>, args = '', cniVersion = '1.0.0') => parseIpamConfig(conf(raw, cniVersion), parseCniArgs(args))
const sets = (c: ReturnType<typeof parse>) => c.rangeSets.map(rangeSetToString)
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: number }).code
  }
  return undefined
}

describe('ranges', () => {
  it('old style: the top-level range', () => {
    const c = parse({ ipam: { type: 'host-local', subnet: '10.1.2.0/24', rangeStart: '10.1.2.9', rangeEnd: '10.1.2.20', gateway: '10.1.2.30' } })
    expect(sets(c)).toEqual(['10.1.2.9-10.1.2.20'])
    expect(formatIp(c.rangeSets[0]![0]!.gateway)).toBe('10.1.2.30')
    expect(c.location).toEqual({ dataDir: '/var/lib/cni/networks', network: 'mynet' })
  })

  it('order: runtimeConfig.ipRanges, then the legacy range, then ranges (the index is the rangeID)', () => {
    const c = parse({
      ipam: { type: 'host-local', subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.2.0.0/24' }, { subnet: '10.3.0.0/24' }], [{ subnet: '2001:db8::/64' }]] },
      runtimeConfig: { ipRanges: [[{ subnet: '10.9.0.0/24' }]] },
    })
    expect(sets(c)).toEqual(['10.9.0.1-10.9.0.254', '10.1.0.1-10.1.0.254', '10.2.0.1-10.2.0.254,10.3.0.1-10.3.0.254', '2001:db8::1-2001:db8::ffff:ffff:ffff:ffff'])
  })

  it('accepts Go-style key spellings (IPAM, RuntimeConfig, RangeStart)', () => {
    const c = parse({ IPAM: { Type: 'host-local', Ranges: [[{ Subnet: '10.2.0.0/24', RangeStart: '10.2.0.100' }]], DataDir: '/tmp/x' }, RuntimeConfig: { IPs: ['10.2.0.150'] } })
    expect(sets(c)).toEqual(['10.2.0.100-10.2.0.254'])
    expect(c.location.dataDir).toBe('/tmp/x')
    expect(c.requested.map(formatIp)).toEqual(['10.2.0.150'])
  })

  it.each([
    [{}, "IPAM config missing 'ipam' key"],
    [{ ipam: { type: 'host-local' } }, 'no IP ranges specified'],
    [{ ipam: { ranges: [[]] } }, 'invalid range set 0: empty range set'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]] } }, 'range set 0 overlaps with 1'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.128/25' }]] } }, 'invalid range set 0: subnets 10.0.0.1-10.0.0.254 and 10.0.0.129-10.0.0.254 overlap'],
    [{ ipam: { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: '2001:db8::/64' }]] } }, 'invalid range set 0: mixed address families'],
    [{ ipam: { subnet: '10.0.0.0/24' }, runtimeConfig: { ipRanges: [[{ subnet: '10.0.0.0/25' }]] } }, 'range set 0 overlaps with 1'],
    [{ ipam: { ranges: [[{ subnet: 5 }]] } }, 'invalid ipam.ranges.0.0.subnet'],
    [{ ipam: { ranges: [{ subnet: '10.0.0.0/24' }] } }, 'invalid ipam.ranges.0'],
    [{ ipam: { subnet: '10.0.0.0/24', routes: [{ dst: 'default' }] } }, 'invalid ipam.routes.0.dst: "default" is not an address with prefix'],
    [{ ipam: { subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'x' }] } }, 'invalid ipam.routes.0.gw'],
    [{ ipam: 'host-local' }, 'invalid ipam: must be an object'],
  ])('%j fails with code 7: %s', (raw, message) => {
    expect(() => parse(raw)).toThrow(message)
    expect(codeOf(() => parse(raw))).toBe(7)
  })
})

describe('old config versions', () => {
  const two4 = { ipam: { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] } }
  const dual = { ipam: { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '2001:db8::/64' }]] } }
  it.each(['0.1.0', '0.2.0'])('%s refuses two IPv4 range sets', (v) => {
    expect(() => parse(two4, '', v)).toThrow(`CNI version ${v} does not support more than 1 address per family`)
  })
  it('0.2.0 allows one IPv4 and one IPv6 set; 0.3.0 allows two IPv4 sets', () => {
    expect(sets(parse(dual, '', '0.2.0'))).toHaveLength(2)
    expect(sets(parse(two4, '', '0.3.0'))).toHaveLength(2)
  })
})

describe('requested addresses', () => {
  const base = { ipam: { ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: '2001:db8::/64' }]] } }

  it.each(['10.1.2.10', '10.1.2.10/24'])('CNI_ARGS IP=%s (prefix ignored)', (value) => {
    expect(parse(base, `IgnoreUnknown=1;IP=${value};K8S_POD_NAME=x`).requested.map(formatIp)).toEqual(['10.1.2.10'])
  })

  it('CNI_ARGS, args.cni.ips and runtimeConfig.ips are concatenated in that order, duplicates dropped', () => {
    const c = parse({ ...base, args: { cni: { ips: ['10.1.2.11', '2001:db8::11/64'] } }, runtimeConfig: { ips: ['10.1.2.12/24', '10.1.2.10'] } }, 'IP=10.1.2.10')
    expect(c.requested.map(formatIp)).toEqual(['10.1.2.10', '10.1.2.11', '2001:db8::11', '10.1.2.12'])
  })

  it.each([
    [{ args: { cni: { ips: ['../../etc/passwd'] } } }, 'cannot understand ip: args.cni.ips.0 "../../etc/passwd" is not an IP address'],
    [{ runtimeConfig: { ips: ['10.1.2.300'] } }, 'cannot understand ip: runtimeConfig.ips.0 "10.1.2.300" is not an IP address'],
    [{ runtimeConfig: { ips: '10.1.2.3' } }, 'invalid runtimeConfig.ips'],
    [{ args: { cni: { ips: [7] } } }, 'invalid args.cni.ips.0'],
  ])('%j fails with code 7', (extra, message) => {
    expect(() => parse({ ...base, ...extra })).toThrow(message)
    expect(codeOf(() => parse({ ...base, ...extra }))).toBe(7)
  })

  it('a bad CNI_ARGS IP is an environment error (code 4) naming the variable', () => {
    expect(() => parse(base, 'IP=../../x')).toThrow('cannot understand ip: CNI_ARGS IP="../../x" is not an IP address')
    expect(codeOf(() => parse(base, 'IP=../../x'))).toBe(4)
  })
})

describe('routes, dns and data dir', () => {
  it('routes are passed through with their 1.1 fields', () => {
    const c = parse({ ipam: { subnet: '10.0.0.0/24', dataDir: '/run/ipam', resolvConf: '/etc/resolv.conf', routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.0.0.254', priority: 5 }] } })
    expect(c.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.0.0.254', priority: 5 }])
    expect(c.resolvConf).toBe('/etc/resolv.conf')
    expect(c.location.dataDir).toBe('/run/ipam')
  })

  it('DEL and GC need only the location, so a config with broken ranges can still release', () => {
    const broken = conf({ ipam: { dataDir: '/d', ranges: [[{ subnet: '10.0.0.3/24' }]] } })
    expect(() => parseIpamConfig(broken, noArgs)).toThrow(/host bits/)
    expect(parseStoreLocation(broken)).toEqual({ dataDir: '/d', network: 'mynet' })
  })
})

describe('parseValidAttachments', () => {
  it('absent (or null) means "no list": undefined', () => {
    expect(parseValidAttachments({})).toBeUndefined()
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': null })).toBeUndefined()
  })
  it('an empty list is a list', () => {
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': [] })).toEqual([])
  })
  it('the older key is accepted; the current key wins when both are present', () => {
    const a = [{ containerID: 'a', ifname: 'eth0' }]
    expect(parseValidAttachments({ 'cni.dev/attachments': a })).toEqual(a)
    expect(parseValidAttachments({ 'cni.dev/valid-attachments': a, 'cni.dev/attachments': [] })).toEqual(a)
  })
  it('a malformed list is a code-7 error naming the key', () => {
    expect(() => parseValidAttachments({ 'cni.dev/valid-attachments': [{ containerID: 'a' }] })).toThrow('invalid cni.dev/valid-attachments.0.ifname')
  })
})
