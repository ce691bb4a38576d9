import { describe, expect, it } from 'vitest'
import { errorOf } from '../../support/errors.ts'
import { parsePortmapConfig } from '../../../src/portmap/config.ts'

const base = { cniVersion: '1.0.0', name: 'net', type: 'portmap' }
const withMappings = (portMappings: unknown[], extra: Record<string, unknown> = {}) => ({ ...base, runtimeConfig: { portMappings }, ...extra })

describe('parsePortmapConfig defaults', () => {
  it('snat on, masqAll off, mark bit 13, no backend preference, no mappings', () => {
    expect(parsePortmapConfig(base)).toEqual({ mappings: [], snat: true, masqAll: false, markMasqBit: 13, prevResult: undefined })
  })

  it('reads mappings, lowercases the protocol and keeps hostIP canonical (0.0.0.0 and :: restrict the family)', () => {
    const c = parsePortmapConfig(withMappings([
      { hostPort: 8080, containerPort: 80, protocol: 'TCP' },
      { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '0.0.0.0' },
      { hostPort: 8443, containerPort: 443, protocol: 'sctp', hostIP: '192.168.0.2' },
      { hostPort: 9000, containerPort: 90, hostIP: '2001:DB8::1' },
      { hostPort: 9001, containerPort: 91, hostIP: '::' },
    ]))
    expect(c.mappings).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 53, containerPort: 53, protocol: 'udp', hostIp: '0.0.0.0' },
      { hostPort: 8443, containerPort: 443, protocol: 'sctp', hostIp: '192.168.0.2' },
      { hostPort: 9000, containerPort: 90, protocol: 'tcp', hostIp: '2001:db8::1' },
      { hostPort: 9001, containerPort: 91, protocol: 'tcp', hostIp: '::' },
    ])
  })

  it('accepts Go-style key casing (RuntimeConfig, PortMappings) and a null list', () => {
    expect(parsePortmapConfig({ ...base, RuntimeConfig: { PortMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] } }).mappings).toHaveLength(1)
    expect(parsePortmapConfig({ ...base, runtimeConfig: { portMappings: null } }).mappings).toEqual([])
  })
})

describe('parsePortmapConfig validation (code 7, naming field and value)', () => {
  it.each([
    [{ hostPort: 0, containerPort: 80 }, 'runtimeConfig.portMappings.0.hostPort', 'got 0'],
    [{ hostPort: 70000, containerPort: 80 }, 'runtimeConfig.portMappings.0.hostPort', 'got 70000'],
    [{ hostPort: 80, containerPort: -1 }, 'runtimeConfig.portMappings.0.containerPort', 'got -1'],
    [{ hostPort: 80, containerPort: 1.5 }, 'runtimeConfig.portMappings.0.containerPort', 'got 1.5'],
    [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }, 'runtimeConfig.portMappings.0.protocol', 'got "icmp"'],
    [{ hostPort: 80, containerPort: 80, hostIP: '10.0.0.300' }, 'runtimeConfig.portMappings.0.hostIP', 'got "10.0.0.300"'],
    [{ containerPort: 80 }, 'runtimeConfig.portMappings.0.hostPort', 'missing'],
  ])('%j', (mapping, field, shown) => {
    const err = errorOf(() => parsePortmapConfig(withMappings([mapping])))
    expect(err.code).toBe(7)
    expect(err.message).toContain(`invalid ${field}:`)
    expect(err.message).toContain(`(${shown})`)
  })

  it('markMasqBit must be 0-31', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, markMasqBit: 32 })).message).toContain('MasqMarkBit must be between 0 and 31')
  })

  it('externalSetMarkChain and markMasqBit exclude each other', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, markMasqBit: 5, externalSetMarkChain: 'KUBE-MARK-MASQ' })).message).toBe('Cannot specify externalSetMarkChain and markMasqBit')
  })

  it('conditions and the external mark chain cannot carry extra script lines', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, conditionsV4: ['-s', '10.0.0.0/8\n-A INPUT -j DROP'] })).message).toContain('invalid conditionsV4.1: conditions must not contain')
    expect(errorOf(() => parsePortmapConfig({ ...base, conditionsV6: ['ip6 saddr ::1; flush ruleset'] })).code).toBe(7)
    expect(errorOf(() => parsePortmapConfig({ ...base, externalSetMarkChain: 'KUBE MARK' })).message).toContain('externalSetMarkChain must be an iptables chain name')
    expect(parsePortmapConfig({ ...base, externalSetMarkChain: 'KUBE-MARK-MASQ' }).externalSetMarkChain).toBe('KUBE-MARK-MASQ')
  })

  it('an unknown backend is refused', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, backend: 'ebpf' })).message).toContain('backend must be "iptables" or "nftables"')
  })
})

describe('backend choice', () => {
  it('an explicit backend wins', () => {
    expect(parsePortmapConfig({ ...base, backend: 'nftables' }).backend).toBe('nftables')
  })

  it('iptables-style conditions or an external mark chain imply iptables; nft-style conditions imply nftables', () => {
    expect(parsePortmapConfig({ ...base, conditionsV4: ['-s', '10.0.0.0/8'] }).backend).toBe('iptables')
    expect(parsePortmapConfig({ ...base, conditionsV4: ['!', '-d', '1.2.3.4'] }).backend).toBe('iptables')
    expect(parsePortmapConfig({ ...base, externalSetMarkChain: 'KUBE-MARK-MASQ' }).backend).toBe('iptables')
    expect(parsePortmapConfig({ ...base, conditionsV6: ['ip6', 'saddr', 'fd00::/8'] }).backend).toBe('nftables')
  })

  it('options of the other backend are refused with the reference message', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, backend: 'iptables', conditionsV4: ['ip', 'saddr', '1.2.3.4'] })).message).toBe(
      'iptables backend was requested but configuration contains nftables-specific options [conditionsV4]',
    )
    expect(errorOf(() => parsePortmapConfig({ ...base, backend: 'nftables', externalSetMarkChain: 'X', conditionsV6: ['-s', '::1'] })).message).toBe(
      'nftables backend was requested but configuration contains iptables-specific options [externalSetMarkChain conditionsV6]',
    )
  })

  it('mixing both kinds without a backend is refused', () => {
    expect(errorOf(() => parsePortmapConfig({ ...base, conditionsV4: ['-s', '1.2.3.4'], conditionsV6: ['ip6', 'saddr', '::1'] })).code).toBe(7)
  })
})
