// loopback/result.ts: the addresses reported, the printed result in each of the seven versions, CHECK's findings.
import { describe, expect, it } from 'vitest'
import { encodeLoopbackResult, isLoopbackIp, loopbackAddresses, loopbackProblems, loopbackResult } from '../../../src/loopback/result.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { SUPPORTED_VERSIONS } from '../../../src/plugin/version.ts'
import type { IpAddrInfo, IpLink } from '../../../src/system/index.ts'

function addr(family: 'inet' | 'inet6', local: string, prefixlen: number): IpAddrInfo {
  return { family, local, prefixlen, scope: 'host', tentative: false, dadfailed: false }
}

function lo(addrs: IpAddrInfo[], up = true): IpLink {
  return { ifindex: 1, ifname: 'lo', flags: up ? ['LOOPBACK', 'UP', 'LOWER_UP'] : ['LOOPBACK'], mtu: 65536, operstate: up ? 'UNKNOWN' : 'DOWN', address: '00:00:00:00:00:00', promiscuity: 0, addrs }
}

const BOTH = lo([addr('inet', '127.0.0.1', 8), addr('inet6', '::1', 128)])

describe('isLoopbackIp', () => {
  it.each([['127.0.0.1', true], ['127.255.0.9', true], ['::1', true], ['::ffff:127.0.0.1', true], ['10.0.0.1', false], ['::2', false], ['0.0.0.1', false], ['fe80::1', false], ['nonsense', false]])('%s -> %s', (ip, want) => {
    expect(isLoopbackIp(ip)).toBe(want)
  })
})

describe('loopbackAddresses', () => {
  it('takes the first address of each family in the kernel order', () => {
    expect(loopbackAddresses(lo([addr('inet', '127.0.0.1', 8), addr('inet', '127.0.0.2', 8), addr('inet6', '::1', 128)]))).toEqual({ v4: '127.0.0.1/8', v6: '::1/128' })
  })

  it('reports only IPv4 when IPv6 is off, and nothing on a bare lo', () => {
    expect(loopbackAddresses(lo([addr('inet', '127.0.0.1', 8)]))).toEqual({ v4: '127.0.0.1/8' })
    expect(loopbackAddresses(lo([]))).toEqual({})
  })

  it('refuses a lo carrying a non-loopback address, naming it (as the reference)', () => {
    let err: unknown
    try {
      loopbackAddresses(lo([addr('inet', '127.0.0.1', 8), addr('inet', '10.9.8.7', 32)]))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CniError)
    expect((err as CniError).code).toBe(999)
    expect((err as CniError).message).toBe('loopback interface found with non-loopback address "10.9.8.7"')
  })
})

describe('the printed result', () => {
  // The reference's output for cniVersion v, as printed by Debian's build and current upstream (no empty dns).
  const reference = (v: string) => ({
    cniVersion: v,
    interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/run/netns/c1' }],
    ips: [{ interface: 0, address: '127.0.0.1/8' }, { interface: 0, address: '::1/128' }],
  })

  it.each(SUPPORTED_VERSIONS)('cniVersion %s: the 1.x shape stamped with the version, as the reference prints it', (v) => {
    const result = loopbackResult(v, '/run/netns/c1', loopbackAddresses(BOTH))
    const printed = encodeLoopbackResult(result, v)
    expect(printed).toEqual(reference(v))
    // Spelled out, because the spec conversion would do otherwise for the old versions.
    expect(printed).not.toHaveProperty('ip4')
    expect(printed).not.toHaveProperty('dns')
    expect((printed.ips as object[]).every((ip) => !('version' in ip))).toBe(true)
  })

  it.each(SUPPORTED_VERSIONS)('cniVersion %s without IPv6: one address; without any address: no ips at all', (v) => {
    expect(encodeLoopbackResult(loopbackResult(v, '/p', { v4: '127.0.0.1/8' }), v)).toEqual({
      cniVersion: v, interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/p' }], ips: [{ interface: 0, address: '127.0.0.1/8' }],
    })
    expect(encodeLoopbackResult(loopbackResult(v, '/p', {}), v)).toEqual({ cniVersion: v, interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/p' }] })
  })
})

describe('loopbackProblems (CHECK)', () => {
  it('none for lo up with 127.0.0.1 and ::1', () => {
    expect(loopbackProblems([BOTH], true)).toEqual([])
  })

  it('::1 is required only while IPv6 is enabled on lo', () => {
    const v4only = lo([addr('inet', '127.0.0.1', 8)])
    expect(loopbackProblems([v4only], false)).toEqual([])
    expect(loopbackProblems([v4only], true)).toEqual(['loopback interface has no address ::1 although IPv6 is enabled on it (it has 127.0.0.1/8)'])
  })

  it('a down lo, a lo without 127.0.0.1, and a missing lo are each reported', () => {
    expect(loopbackProblems([lo([addr('inet', '127.0.0.1', 8)], false)], false)).toEqual(['loopback interface is down'])
    expect(loopbackProblems([lo([addr('inet6', '::1', 128)])], true)).toEqual(['loopback interface has no address 127.0.0.1 (it has ::1/128)'])
    expect(loopbackProblems([], true)).toEqual(['loopback interface lo not found'])
  })
})
