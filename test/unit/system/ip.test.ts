// system/ip.ts: the batch lines for every op, and failure classification.
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIp, failedBatchLine, isExists, isNoDevice, renderIpOp, renderVlanOp, type IpOp } from '../../../src/system/ip.ts'
import { SystemError } from '../../../src/system/errors.ts'
import type { Exec, RunOptions, RunResult } from '../../../src/system/exec.ts'
import { sysctlReadScript, sysctlScript } from '../../../src/system/sysctl.ts'

describe('ip batch lines', () => {
  it.each<[IpOp, string]>([
    [{ op: 'bridge-add', name: 'cni0', mac: '02:00:00:00:00:01' }, 'link add name cni0 address 02:00:00:00:00:01 type bridge'],
    [{ op: 'bridge-add', name: 'cni0', mtu: 1400, vlanFiltering: true }, 'link add name cni0 mtu 1400 type bridge vlan_filtering 1'],
    [{ op: 'link-set', name: 'cni0', up: true }, 'link set dev cni0 up'],
    [{ op: 'link-set', name: 'lo', up: false }, 'link set dev lo down'],
    [{ op: 'link-set', name: 'v', master: 'cni0', address: '02:00:00:00:00:01', promisc: true, up: true }, 'link set dev v master cni0 address 02:00:00:00:00:01 promisc on up'],
    [{ op: 'veth-add', a: { name: 'veth1', mac: '02:00:00:00:00:02', mtu: 1400 }, b: { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1400, netns: '/run/netns/c' } },
      'link add name veth1 address 02:00:00:00:00:02 mtu 1400 type veth peer name eth0 address 02:00:00:00:00:03 mtu 1400 netns /run/netns/c'],
    [{ op: 'veth-add', a: { name: 'a' }, b: { name: 'b' } }, 'link add name a type veth peer name b'],
    [{ op: 'port-flags', name: 'v', hairpin: true, isolated: false }, 'link set dev v type bridge_slave hairpin on isolated off'],
    [{ op: 'addr-add', cidr: 'fd00::1/64', dev: 'cni0' }, 'addr add fd00::1/64 dev cni0'],
    [{ op: 'addr-add', cidr: 'fd00::1/64', dev: 'cni0', nodad: true }, 'addr add fd00::1/64 dev cni0 nodad'],
    [{ op: 'addr-del', cidr: '10.0.0.1/8', dev: 'cni0' }, 'addr del 10.0.0.1/8 dev cni0'],
    [{ op: 'route-add', route: { dst: '0.0.0.0/0', gw: '10.0.0.1', dev: 'eth0' } }, 'route prepend 0.0.0.0/0 via 10.0.0.1 dev eth0'],
    [{ op: 'route-add', route: { dst: '10.9.0.0/16', dev: 'eth0', metric: 0, table: 100, scope: 253 } }, 'route prepend 10.9.0.0/16 dev eth0 metric 0 table 100 scope 253'],
    [{ op: 'link-del', name: 'veth1' }, 'link del dev veth1'],
  ])('%j', (op, line) => {
    expect(renderIpOp(op)).toBe(line)
  })

  it('bridge(8) VLAN lines', () => {
    expect(renderVlanOp({ op: 'vlan-add', dev: 'v', vid: 100, native: true })).toBe('vlan add dev v vid 100 pvid untagged master')
    expect(renderVlanOp({ op: 'vlan-add', dev: 'v', vid: 7 })).toBe('vlan add dev v vid 7 master')
    expect(renderVlanOp({ op: 'vlan-del', dev: 'v', vid: 1 })).toBe('vlan del dev v vid 1 master')
  })
})

describe('failures', () => {
  const err = (stderr: string) => new SystemError({ cmd: 'ip', args: ['-batch', '-'], exitCode: 1, stderr })
  it('finds the failed line and the kind of failure', () => {
    const e = err('RTNETLINK answers: File exists\nCommand failed -:4')
    expect(failedBatchLine(e)).toBe(4)
    expect(isExists(e)).toBe(true)
    expect(isExists(err('Error: ipv4: Address already assigned.\nCommand failed -:2'))).toBe(true)
    expect(isNoDevice(err('Cannot find device "veth1"\nCommand failed -:1'))).toBe(true)
    expect(failedBatchLine(new Error('x'))).toBeUndefined()
  })
})

describe('container sysctl script', () => {
  it('passes paths and values as arguments, never in the script', () => {
    const { script, args } = sysctlScript([{ key: 'net/ipv6/conf/e$(x)/accept_dad', value: '0', optional: true }, { key: 'net/ipv6/conf/lo/disable_ipv6', value: '0' }])
    expect(script).not.toContain('$(x)')
    expect(args).toEqual(['/proc/sys/net/ipv6/conf/e$(x)/accept_dad', '0', '/proc/sys/net/ipv6/conf/lo/disable_ipv6', '0'])
    expect(script.split('\n')[0]).toBe('echo "${2}" 2>/dev/null >"${1}" || true')
    expect(script.split('\n')[1]).toContain('exit 97')
  })
})

describe('container sysctl read script', () => {
  it('prints "=value" per readable key and "!" per missing one, in order, paths passed as arguments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tscni-sysctl-'))
    try {
      writeFileSync(join(dir, 'a'), '0\n')
      writeFileSync(join(dir, 'c'), 'x y\n')
      const { script, args } = sysctlReadScript(['a', 'b', 'c'], 2)
      expect(args).toEqual(['/proc/sys/a', '/proc/sys/b', '/proc/sys/c'])
      // Run with the test's own files in place of /proc/sys, and "$1" taken by something else, as inspect() does.
      const out = execFileSync('sh', ['-c', script, 'sh', 'first', ...['a', 'b', 'c'].map((k) => join(dir, k))], { encoding: 'utf8' })
      expect(out).toBe('=0\n!\n=x y\n')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

// A plain fake Exec: records each call, answers with the scripted result.
function recordingExec(reply: RunResult): { exec: Exec; calls: Array<{ cmd: string; args: readonly string[]; options: RunOptions | undefined }> } {
  const calls: Array<{ cmd: string; args: readonly string[]; options: RunOptions | undefined }> = []
  return { calls, exec: { run: async (cmd, args, options) => { calls.push({ cmd, args, options }); return reply } } }
}

const LO_JSON = JSON.stringify([{ ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] }])

describe('batchThenShow', () => {
  it('runs the ops and then "addr show dev" in one ip -j -batch inside the namespace, and parses the link', async () => {
    const { exec, calls } = recordingExec({ stdout: `${LO_JSON}\n`, stderr: '', exitCode: 0 })
    const links = await createIp(exec).batchThenShow([{ op: 'link-set', name: 'lo', up: true }], 'lo', { netns: '/run/netns/c' })
    expect(calls).toEqual([{ cmd: 'ip', args: ['-j', '-d', '-batch', '-'], options: { netns: '/run/netns/c', input: 'link set dev lo up\naddr show dev lo\n' } }])
    expect(links.map((l) => [l.ifname, l.flags.includes('UP'), l.addrs.map((a) => a.local)])).toEqual([['lo', true, ['127.0.0.1']]])
  })
})

describe('inspect', () => {
  it('reads the sysctls and the link with one sh inside the namespace', async () => {
    const { exec, calls } = recordingExec({ stdout: `=1\n!\n${LO_JSON}\n`, stderr: '', exitCode: 0 })
    const seen = await createIp(exec).inspect('lo', '/run/netns/c', ['net/ipv6/conf/lo/disable_ipv6', 'net/x'])
    expect(seen.sysctls).toEqual(['1', undefined])
    expect(seen.links.map((l) => l.ifname)).toEqual(['lo'])
    expect(calls[0]!.cmd).toBe('sh')
    expect(calls[0]!.args.slice(2)).toEqual(['sh', 'lo', '/proc/sys/net/ipv6/conf/lo/disable_ipv6', '/proc/sys/net/x'])
    expect(calls[0]!.options?.netns).toBe('/run/netns/c')
  })

  it('a missing device is an empty list, any other failure throws', async () => {
    const missing = recordingExec({ stdout: '=0\n', stderr: 'Device "lo" does not exist.\n', exitCode: 1 })
    expect(await createIp(missing.exec).inspect('lo', '/n', ['k'])).toEqual({ links: [], sysctls: ['0'] })
    const broken = recordingExec({ stdout: '', stderr: 'nsenter: cannot open /n: No such file or directory\n', exitCode: 1 })
    await expect(createIp(broken.exec).inspect('lo', '/n', ['k'])).rejects.toBeInstanceOf(SystemError)
  })
})
