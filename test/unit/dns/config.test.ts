// The DNS role's config: dnsname's keys, tscni's own, defaults, and code-7 errors naming the field.
import { describe, expect, it } from 'vitest'
import { parseDnsConfig } from '../../../src/dns/config.ts'
import { CniError } from '../../../src/plugin/errors.ts'

describe('parseDnsConfig', () => {
  it('defaults', () => {
    expect(parseDnsConfig({ type: 'dnsname' }, 'net')).toEqual({ domainName: 'dns.tscni', dataDir: '/run/tscni/dns', resolvConf: '/etc/resolv.conf', aliases: [], prevResult: undefined })
  })

  it("accepts dnsname's config, any key case, and picks this network's aliases", () => {
    const conf = parseDnsConfig({ type: 'dnsname', DomainName: 'Dns.Podman.', RuntimeConfig: { aliases: { net: ['a', 'B'], other: ['c'] } }, prevResult: { x: 1 } }, 'net')
    expect(conf.domainName).toBe('dns.podman')
    expect(conf.aliases).toEqual(['a', 'B'])
    expect(conf.prevResult).toEqual({ x: 1 })
  })

  it.each(['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'])('network %s reads only its own aliases, never Object.prototype', (network) => {
    expect(parseDnsConfig({ type: 'dnsname', runtimeConfig: { aliases: { other: ['c'] } } }, network).aliases).toEqual([])
    expect(parseDnsConfig({ type: 'dnsname', runtimeConfig: { aliases: { [network]: ['mine'] } } }, network).aliases).toEqual(network === '__proto__' ? [] : ['mine'])
  })

  it.each([
    [{ domainName: 'bad domain' }, /^invalid domainName: .*\(got "bad domain"\)$/],
    [{ dataDir: 'relative' }, /^invalid dataDir: dataDir must be an absolute path/],
    [{ dataDir: '/a b' }, /^invalid dataDir/],
    [{ user: 'root\nx' }, /^invalid user/],
    [{ backend: 'pf' }, /^invalid backend/],
  ])('refuses %j with code 7', (extra, msg) => {
    let err: unknown
    try {
      parseDnsConfig({ type: 'dnsname', ...extra }, 'net')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CniError)
    expect((err as CniError).code).toBe(7)
    expect((err as CniError).message).toMatch(msg)
  })
})
