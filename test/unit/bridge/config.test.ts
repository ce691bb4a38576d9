// bridge/config.ts: defaults, every validation message, MAC priority.
import { describe, expect, it } from 'vitest'
import { collectVlanTrunk } from '../../../src/bridge/config.ts'
import { bridgeConfig } from './helpers.ts'

describe('bridge config defaults', () => {
  it('applies the reference defaults', () => {
    expect(bridgeConfig()).toEqual({
      network: 'net1', cniVersion: '1.0.0', bridge: 'cni0', isGateway: false, isDefaultGateway: false, forceAddress: false, ipMasq: false,
      mtu: 0, hairpinMode: false, promiscMode: false, vlan: 0, vlanTrunk: [], preserveDefaultVlan: false, enableDad: false,
      macSpoofCheck: false, disableContainerInterface: false, portIsolation: false, ipamType: '',
    })
  })

  it('isDefaultGateway forces isGateway', () => {
    expect(bridgeConfig({ isDefaultGateway: true }).isGateway).toBe(true)
  })

  it('accepts Go-style key case (IPAM, Bridge)', () => {
    const c = bridgeConfig({ Bridge: 'br7', IPAM: { type: 'host-local' } })
    expect(c.bridge).toBe('br7')
    expect(c.ipamType).toBe('host-local')
  })

  it('keeps dns only when a field is set', () => {
    expect(bridgeConfig({ dns: {} }).dns).toBeUndefined()
    expect(bridgeConfig({ dns: { nameservers: ['10.0.0.53'] } }).dns).toEqual({ nameservers: ['10.0.0.53'] })
  })
})

describe('bridge config validation messages', () => {
  it.each([
    [{ vlan: -100 }, 'invalid VLAN ID -100 (must be between 0 and 4094)'],
    [{ vlan: 5000 }, 'invalid VLAN ID 5000 (must be between 0 and 4094)'],
    [{ hairpinMode: true, promiscMode: true }, 'cannot set hairpin mode and promiscuous mode at the same time'],
    [{ ipam: { type: 'host-local' }, disableContainerInterface: true }, 'cannot use IPAM when DisableContainerInterface flag is set'],
    [{ ipMasqBackend: 'pf' }, 'unknown ipmasq backend "pf"'],
    [{ mtu: -1 }, 'invalid mtu: must be 0 (kernel default) or more (got -1)'],
    [{ mtu: 1.5 }, 'invalid mtu: expected an integer (got 1.5)'],
    [{ hairpinMode: 'yes' }, 'invalid hairpinMode: expected true or false (got "yes")'],
    [{ bridge: 'a-very-long-bridge-name' }, 'invalid bridge name "a-very-long-bridge-name"'],
    [{ bridge: 'br 0' }, 'invalid bridge name "br 0"'],
    [{ bridge: 'mybridge0123', vlan: 4000 }, 'needs a gateway interface "mybridge0123.4000", longer than 15 characters'],
    [{ runtimeConfig: { mac: 'zz:00:00:00:00:00' } }, 'invalid MAC address "zz:00:00:00:00:00" in runtimeConfig.mac'],
  ])('%j -> %s', (extra, msg) => {
    expect(() => bridgeConfig(extra)).toThrow(msg)
    try {
      bridgeConfig(extra)
    } catch (err) {
      expect((err as { code: number }).code).toBe(7)
    }
  })
})

describe('vlanTrunk', () => {
  it.each([
    [[{ id: 101 }, { minID: 200, maxID: 203 }, { id: 101 }], [101, 200, 201, 202, 203]],
    [[{ minID: 5, maxID: 5 }, { id: 3 }], [3, 5]],
    [[], []],
    [undefined, []],
  ])('%j expands to %j', (items, vids) => {
    expect(collectVlanTrunk(items)).toEqual(vids)
  })

  it.each([
    [[{ minID: 0, maxID: 5 }], 'incorrect trunk minID parameter'],
    [[{ minID: 5000, maxID: 5 }], 'incorrect trunk minID parameter'],
    [[{ minID: 1, maxID: 4095 }], 'incorrect trunk maxID parameter'],
    [[{ minID: 1, maxID: 0 }], 'incorrect trunk maxID parameter'],
    [[{ minID: 10, maxID: 5 }], 'minID is greater than maxID in trunk parameter'],
    [[{ maxID: 5 }], 'minID and maxID should be configured simultaneously, minID is missing'],
    [[{ minID: 5 }], 'minID and maxID should be configured simultaneously, maxID is missing'],
    [[{ id: 0 }], 'incorrect trunk id parameter'],
    [[{ id: 4095 }], 'incorrect trunk id parameter'],
  ])('%j fails with "%s"', (items, msg) => {
    expect(() => collectVlanTrunk(items)).toThrow(msg)
    expect(() => bridgeConfig({ vlanTrunk: items })).toThrow(msg)
  })
})

describe('container MAC sources', () => {
  const rc = { runtimeConfig: { mac: '0a:00:00:00:00:01' } }
  const args = { args: { cni: { mac: '0a:00:00:00:00:02' } } }
  it('runtimeConfig wins over args and CNI_ARGS', () => {
    expect(bridgeConfig({ ...rc, ...args }, 'MAC=0a:00:00:00:00:03').mac).toBe('0a:00:00:00:00:01')
  })
  it('args wins over CNI_ARGS', () => {
    expect(bridgeConfig(args, 'MAC=0a:00:00:00:00:03').mac).toBe('0a:00:00:00:00:02')
  })
  it('CNI_ARGS MAC= alone is used, lower-cased', () => {
    expect(bridgeConfig({}, 'IgnoreUnknown=1;MAC=0A:00:00:00:00:03').mac).toBe('0a:00:00:00:00:03')
  })
  it('no source, no MAC', () => {
    expect(bridgeConfig().mac).toBeUndefined()
  })
})

describe('interface name length in bytes (IFNAMSIZ)', () => {
  it('refuses a bridge name of 15 characters but more than 15 bytes', () => {
    expect(() => bridgeConfig({ bridge: 'brüüüüüüüüüüüüü' })).toThrow('invalid bridge name')
    expect(bridgeConfig({ bridge: 'br0123456789abc' }).bridge).toBe('br0123456789abc')
  })
})
