import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errorOf } from '../../support/errors.ts'
import type { Result } from '../../../src/plugin/result.ts'
import { compareVersions, decodeResult, encodeResult, SUPPORTED_VERSIONS, versionReply } from '../../../src/plugin/version.ts'

const fixture = (name: string): any => JSON.parse(readFileSync(new URL(`../../fixtures/version/${name}.json`, import.meta.url), 'utf8'))
const internal: Result = fixture('internal')

describe('encodeResult golden files', () => {
  it.each(SUPPORTED_VERSIONS)('writes the %s shape', (version) => {
    expect(encodeResult(internal, version)).toEqual(fixture(version))
  })

  it('prints "dns":{} for 0.x and drops an empty dns for 1.x (the reference shapes)', () => {
    const bare: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] }
    expect(encodeResult(bare, '0.4.0').dns).toEqual({})
    expect(encodeResult(bare, '0.2.0').dns).toEqual({})
    expect('dns' in encodeResult(bare, '1.0.0')).toBe(false)
  })

  it('fails to express an L2 (no IP) result in 0.1.0/0.2.0', () => {
    const l2: Result = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }
    expect(errorOf(() => encodeResult(l2, '0.2.0')).message).toBe('cannot convert: no valid IP addresses')
    expect(encodeResult(l2, '0.3.1')).toEqual({ cniVersion: '0.3.1', interfaces: [{ name: 'eth0' }], dns: {} })
  })
})

describe('decodeResult', () => {
  it.each(['1.1.0', '1.0.0'])('reads %s back to the internal shape', (version) => {
    expect(decodeResult(fixture(version), version)).toEqual({ ...internal, cniVersion: version })
  })

  it.each(['0.3.0', '0.3.1', '0.4.0'])('reads %s, dropping ips[].version and keeping the rest', (version) => {
    const back = decodeResult(fixture(version), version)
    expect(back.ips).toEqual(internal.ips)
    expect(back.routes).toEqual(internal.routes)
    expect(back.interfaces?.[2]).toEqual({ name: 'eth0', mac: '0a:58:0a:16:00:05', sandbox: '/run/netns/c1' })
  })

  it.each(['0.1.0', '0.2.0'])('reads %s ip4/ip6 into ips and merges their routes', (version) => {
    const back = decodeResult(fixture(version), version)
    expect(back.ips).toEqual([
      { address: '10.22.0.5/16', gateway: '10.22.0.1' },
      { address: '2001:db8:22::5/64', gateway: '2001:db8:22::1' },
    ])
    expect(back.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.22.0.1' },
      { dst: '192.168.5.0/24' },
      { dst: '::/0', gw: '2001:db8:22::1' },
    ])
  })

  it('round-trips every version through the internal shape', () => {
    for (const from of SUPPORTED_VERSIONS) {
      for (const to of SUPPORTED_VERSIONS) {
        const once = encodeResult(decodeResult(fixture(from), from), to)
        expect(encodeResult(decodeResult(once, to), to)).toEqual(once)
      }
    }
  })

  it('uses the config version when the result carries none (libcni reads prevResult that way)', () => {
    const raw = { ips: [{ version: '4', address: '10.0.0.2/24' }] }
    expect(decodeResult(raw, '0.4.0')).toEqual({ cniVersion: '0.4.0', ips: [{ address: '10.0.0.2/24' }] })
    expect(decodeResult({ ip4: { ip: '10.0.0.2/24' } }, '0.2.0').ips).toEqual([{ address: '10.0.0.2/24' }])
  })

  it.each([
    [{ ips: [{ address: '10.0.0.300/24' }] }, 'result.ips.0.address'],
    [{ ips: [{ address: '10.0.0.3' }] }, 'result.ips.0.address'],
    [{ ips: [{}] }, 'invalid result.ips.0.address: expected a string (missing)'],
    [{ interfaces: [{ mac: 'x' }] }, 'invalid result.interfaces.0.name: expected a string (missing)'],
    [{ routes: 'x' }, 'invalid result.routes: expected a list (got "x")'],
    [{ ips: [{ address: '10.0.0.3/24', interface: 'two' }] }, 'invalid result.ips.0.interface: expected an integer (got "two")'],
    [{ ips: [{ address: '10.0.0.3/24', gateway: '10.0.0.1\nlink del eth0' }] }, 'result.ips.0.gateway'],
    [{ routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1 dev lo' }] }, 'result.routes.0.gw'],
    [{ routes: [{ dst: 'default' }] }, 'result.routes.0.dst'],
  ])('rejects %j with code 6 naming the field', (raw, text) => {
    const err = errorOf(() => decodeResult({ cniVersion: '1.0.0', ...raw }, '1.0.0'))
    expect(err.code).toBe(6)
    expect(err.message).toContain(text)
  })

  it('rejects a result in an unsupported version with code 1', () => {
    expect(errorOf(() => decodeResult({ cniVersion: '3.0.0' }, '1.0.0')).code).toBe(1)
  })
})

describe('versions', () => {
  it('VERSION replies with all seven versions', () => {
    expect(versionReply()).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
  })
  it('compares numerically, not as text', () => {
    expect(compareVersions('0.10.0', '0.4.0')).toBeGreaterThan(0)
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0)
    expect(compareVersions('0.3.1', '0.4.0')).toBeLessThan(0)
  })
})
