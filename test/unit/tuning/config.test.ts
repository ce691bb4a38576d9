import { describe, expect, it } from 'vitest'
import { checkAllowlist, isPassThrough, parseTuningConfig, sysctlPathOf } from '../../../src/tuning/config.ts'
import { duplicateSysctlKeys } from '../../../src/tuning/duplicates.ts'
import { parseCniArgs } from '../../../src/plugin/env.ts'
import { addChanges, backupOf, checkProblems, restoreChanges } from '../../../src/tuning/plan.ts'
import type { IpLink } from '../../../src/system/index.ts'

const none = parseCniArgs('')

describe('sysctlPathOf', () => {
  it.each([
    ['net.ipv4.conf.IFNAME.arp_notify', 'net/ipv4/conf/eth0/arp_notify'],
    ['net/ipv6/conf/IFNAME/accept_ra', 'net/ipv6/conf/eth0/accept_ra'],
    ['net.core.somaxconn', 'net/core/somaxconn'],
    // dots become slashes first, so ".." cannot be spelled with dots: it collapses under net/.
    ['net.ipv4.conf.IFNAME...kernel', 'net/ipv4/conf/eth0/kernel'],
    ['net/../kernel', 'net/kernel'],
  ])('%s -> %s', (key, path) => expect(sysctlPathOf(key, 'eth0')).toBe(path))

  it.each(['kernel.core_pattern', '/kernel/core_pattern', 'net', 'vm.swappiness'])('refuses %s, naming it', (key) => {
    expect(() => sysctlPathOf(key, 'eth0')).toThrow(key)
  })
})

describe('parseTuningConfig', () => {
  it('merges args.cni over the top level and takes the last MAC source in the reference order', () => {
    const c = parseTuningConfig({
      mac: '02:00:00:00:00:01', mtu: 1400, promisc: true, sysctl: { 'net.core.somaxconn': '100' },
      runtimeConfig: { mac: '02:00:00:00:00:03' },
      args: { cni: { promisc: false, txQLen: 10, sysctl: { 'net.ipv4.conf.IFNAME.arp_notify': '1' } } },
    }, parseCniArgs('IgnoreUnknown=1;MAC=02:00:00:00:00:02'), 'eth0')
    expect(c).toMatchObject({ mac: '02:00:00:00:00:03', mtu: 1400, promisc: false, txQLen: 10, dataDir: '/run/cni/tuning' })
    expect(c.sysctls.map((s) => s.path)).toEqual(['net/core/somaxconn', 'net/ipv4/conf/eth0/arp_notify'])
    expect(parseTuningConfig({ mac: '02:00:00:00:00:01' }, parseCniArgs('MAC=02:00:00:00:00:02'), 'eth0').mac).toBe('02:00:00:00:00:02')
    expect(parseTuningConfig({ args: { cni: { mac: '02-00-00-00-00-0A' } } }, none, 'eth0').mac).toBe('02:00:00:00:00:0a')
  })

  it('refuses a bad MAC naming where it came from, and an mtu out of range', () => {
    expect(() => parseTuningConfig({}, parseCniArgs('MAC=nope'), 'eth0')).toThrow('CNI_ARGS MAC: "nope"')
    expect(() => parseTuningConfig({ mtu: 10 }, none, 'eth0')).toThrow('mtu')
  })

  it('is a pass-through with no options (podman, nerdctl)', () => {
    expect(isPassThrough(parseTuningConfig({ cniVersion: '1.0.0', name: 'n', type: 'tuning' }, none, 'eth0'))).toBe(true)
    expect(isPassThrough(parseTuningConfig({ promisc: false }, none, 'eth0'))).toBe(true)
    expect(isPassThrough(parseTuningConfig({ allmulti: false }, none, 'eth0'))).toBe(false)
  })
})

describe('checkAllowlist', () => {
  const sysctls = (key: string) => [{ key, path: sysctlPathOf(key, 'eth0'), value: '1' }]
  it('accepts a key a line matches and refuses one none matches, naming it', () => {
    const list = '^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$\n\n  ^net\\.core\\.somaxconn$  \n'
    expect(() => checkAllowlist(sysctls('net.ipv4.conf.IFNAME.arp_notify'), list, 'f')).not.toThrow()
    expect(() => checkAllowlist(sysctls('net.ipv4.ip_forward'), list, 'f')).toThrow('"net.ipv4.ip_forward" is not allowed')
  })
})

describe('duplicateSysctlKeys', () => {
  it('finds a key given twice in sysctl (any spelling Go folds to it), and ignores other objects', () => {
    expect(duplicateSysctlKeys('{"sysctl":{"a":"1","b":"2","a":"3"}}')).toEqual(['a'])
    expect(duplicateSysctlKeys('{"Sysctl":{"a":"1"},"sysctl":{"a":"2"}}')).toEqual(['a'])
    expect(duplicateSysctlKeys('{"x":{"a":"1","a":"2"},"sysctl":{"a":"1","b":"{\\"a\\":1}"}}')).toEqual([])
  })
})

describe('plans', () => {
  const link: IpLink = { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:aa', promiscuity: 0, txqlen: 1000, addrs: [] }
  const c = parseTuningConfig({ mac: '02:00:00:00:00:bb', mtu: 1400, promisc: true, allmulti: true, txQLen: 5, sysctl: { 'net.core.somaxconn': '7' } }, none, 'eth0')

  it('backs up the originals in the reference file format (plus sysctl) and restores them', () => {
    const b = backupOf(c, link, ['4096'])
    expect(b).toEqual({ mac: '02:00:00:00:00:aa', promisc: false, mtu: 1500, allmulti: false, txQLen: 1000, sysctl: { 'net/core/somaxconn': '4096' } })
    expect(addChanges(c, 'eth0')).toEqual({
      ops: [{ op: 'link-set', name: 'eth0', address: '02:00:00:00:00:bb', mtu: 1400, promisc: true, allmulti: true, txqlen: 5 }],
      sysctls: [{ key: 'net/core/somaxconn', value: '7' }],
    })
    expect(restoreChanges(b, 'eth0')).toEqual({
      ops: [{ op: 'link-set', name: 'eth0', address: '02:00:00:00:00:aa', mtu: 1500, promisc: false, allmulti: false, txqlen: 1000 }],
      sysctls: [{ key: 'net/core/somaxconn', value: '4096', optional: true }],
    })
  })

  it('CHECK names what differs', () => {
    expect(checkProblems(c, 'eth0', link, ['4096'])).toEqual([
      'Tuning configured value of /proc/sys/net/core/somaxconn is 7, current value is 4096',
      'Tuning configured Ethernet of eth0 is 02:00:00:00:00:bb, current value is 02:00:00:00:00:aa',
      'Tuning link eth0 configured promisc is true, current value is false',
      'Tuning configured MTU of eth0 is 1400, current value is 1500',
      'Tuning configured all-multicast mode of eth0 is true, current value is false',
      'Tuning configured Transmit Queue Length of eth0 is 5, current value is 1000',
    ])
  })
})
