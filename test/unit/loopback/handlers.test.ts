// loopback/handlers.ts through the dispatcher with a fake System: what ADD runs and prints (own result and
// prevResult passed on), DEL's tolerance, CHECK's verdicts, GC and STATUS, and bad input before any action.
import { describe, expect, it } from 'vitest'
import { createLoopback } from '../../../src/loopback/handlers.ts'
import { runPlugin, type Outcome } from '../../../src/plugin/dispatch.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace } from '../../../src/plugin/role.ts'
import type { IpAddrInfo, IpLink, NetnsState } from '../../../src/system/index.ts'
import { createFakeSystem, FakeError, type FakeSystem } from '../../support/fake-system.ts'

const NETNS = '/run/netns/c1'

function addr(family: 'inet' | 'inet6', local: string, prefixlen: number): IpAddrInfo {
  return { family, local, prefixlen, scope: 'host', tentative: false, dadfailed: false }
}

function lo(up: boolean, addrs: IpAddrInfo[] = [addr('inet', '127.0.0.1', 8), addr('inet6', '::1', 128)]): IpLink {
  return { ifindex: 1, ifname: 'lo', flags: up ? ['LOOPBACK', 'UP', 'LOWER_UP'] : ['LOOPBACK'], mtu: 65536, operstate: 'UNKNOWN', address: '00:00:00:00:00:00', promiscuity: 0, addrs }
}

async function run(sys: FakeSystem, verb: string, conf: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Outcome & { json: any }> {
  const stdin = JSON.stringify({ cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback', ...conf })
  const outcome = await runPlugin(createLoopback(), {
    env: { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...env },
    readStdin: async () => stdin,
    sys,
    makeContext: (cniEnv, netConf, raw) => ({ env: cniEnv, conf: netConf, stdin: raw, sys, ipam: undefined as never, log: silentLogger, trace: noTrace }),
  })
  return { ...outcome, json: outcome.stdout ? JSON.parse(outcome.stdout) : undefined }
}

describe('loopback ADD', () => {
  it('brings lo up in CNI_NETNS with one batch that also reads it back, and prints lo whatever CNI_IFNAME says', async () => {
    const sys = createFakeSystem().on('ip.batchThenShow', () => [lo(true)])
    const out = await run(sys, 'ADD')
    expect(out.exitCode).toBe(0)
    expect(sys.callsOf('ip.batchThenShow').map((c) => c.args)).toEqual([[[{ op: 'link-set', name: 'lo', up: true }], 'lo', { netns: NETNS }]])
    expect(sys.callsOf('ip.batch')).toEqual([])
    expect(out.json).toEqual({
      cniVersion: '0.3.1',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: NETNS }],
      ips: [{ interface: 0, address: '127.0.0.1/8' }, { interface: 0, address: '::1/128' }],
    })
  })

  it('passes prevResult on, printed in the config version, after bringing lo up', async () => {
    const sys = createFakeSystem().on('ip.batchThenShow', () => [lo(true)])
    const prevResult = { cniVersion: '0.3.1', interfaces: [{ name: 'eth0', sandbox: NETNS }], ips: [{ version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }], dns: {} }
    const out = await run(sys, 'ADD', { prevResult })
    expect(out.exitCode).toBe(0)
    expect(sys.callsOf('ip.batchThenShow')).toHaveLength(1)
    expect(out.json).toEqual(prevResult)
  })

  it('finds prevResult under any key case, as Go does, and treats null as absent', async () => {
    const prevResult = { cniVersion: '0.3.1', interfaces: [{ name: 'eth0', sandbox: NETNS }], ips: [{ version: '4', address: '10.1.0.5/24', interface: 0 }], dns: {} }
    const upper = await run(createFakeSystem().on('ip.batchThenShow', () => [lo(true)]), 'ADD', { PrevResult: prevResult })
    expect(upper.json).toEqual(prevResult)
    const none = await run(createFakeSystem().on('ip.batchThenShow', () => [lo(true)]), 'ADD', { prevResult: null })
    expect(none.json.interfaces).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: NETNS }])
  })

  it('a bad prevResult fails with code 6 naming the field, before touching the namespace', async () => {
    const sys = createFakeSystem()
    const out = await run(sys, 'ADD', { prevResult: { ips: [{ address: '10.1.0.5' }] } })
    expect(out.exitCode).toBe(1)
    expect(out.json).toMatchObject({ code: 6, msg: expect.stringMatching(/^prevResult\.ips(\[0\]|\.0)\.address: "10\.1\.0\.5"/) })
    expect(sys.calls.filter((c) => c.method.startsWith('ip.'))).toEqual([])
  })

  it.each<[NetnsState, string]>([['missing', 'no such file'], ['not-netns', 'not a network namespace']])('a CNI_NETNS that is %s fails, naming it', async (state, why) => {
    const sys = createFakeSystem().on('netns.state', () => state)
    const out = await run(sys, 'ADD')
    expect(out.json).toMatchObject({ code: 999, msg: `failed to open netns "${NETNS}" (CNI_NETNS): ${why}` })
    expect(sys.callsOf('ip.batchThenShow')).toEqual([])
  })

  it('refuses a lo with a non-loopback address, as the reference', async () => {
    const sys = createFakeSystem().on('ip.batchThenShow', () => [lo(true, [addr('inet', '127.0.0.1', 8), addr('inet', '192.0.2.7', 32)])])
    const out = await run(sys, 'ADD')
    expect(out.exitCode).toBe(1)
    expect(out.json.msg).toBe('loopback interface found with non-loopback address "192.0.2.7"')
  })

  it('missing CNI_NETNS is an environment error (code 4)', async () => {
    const out = await run(createFakeSystem(), 'ADD', {}, { CNI_NETNS: '' })
    expect(out.json).toMatchObject({ code: 4, msg: expect.stringContaining('CNI_NETNS') })
  })
})

describe('loopback DEL', () => {
  it('brings lo down in a live namespace', async () => {
    const sys = createFakeSystem()
    expect((await run(sys, 'DEL')).exitCode).toBe(0)
    expect(sys.callsOf('ip.batch').map((c) => c.args)).toEqual([[[{ op: 'link-set', name: 'lo', up: false }], { netns: NETNS }]])
  })

  it.each<[string, Record<string, string>, NetnsState]>([
    ['an empty CNI_NETNS', { CNI_NETNS: '' }, 'ok'],
    ['a namespace that is gone', {}, 'missing'],
    ['a path that is not a namespace', {}, 'not-netns'],
  ])('succeeds silently with %s, touching nothing', async (_what, env, state) => {
    const sys = createFakeSystem().on('netns.state', () => state)
    const out = await run(sys, 'DEL', {}, env)
    expect(out).toMatchObject({ exitCode: 0, stdout: '' })
    expect(sys.callsOf('ip.batch')).toEqual([])
  })

  it('succeeds when the namespace disappears under it, and fails when it is still there', async () => {
    let states: NetnsState[] = ['ok', 'missing']
    const gone = createFakeSystem().on('netns.state', () => states.shift()).on('ip.batch', () => { throw new FakeError('nsenter: cannot open') })
    expect((await run(gone, 'DEL')).exitCode).toBe(0)
    states = ['ok', 'ok']
    const stuck = createFakeSystem().on('netns.state', () => states.shift()).on('ip.batch', () => { throw new FakeError('RTNETLINK answers: Operation not permitted') })
    const out = await run(stuck, 'DEL')
    expect(out.exitCode).toBe(1)
    expect(out.json.msg).toContain('Operation not permitted')
  })
})

describe('loopback CHECK', () => {
  const conf = { cniVersion: '1.0.0' }

  it('passes for lo up with both addresses, reading disable_ipv6 inside the namespace', async () => {
    const sys = createFakeSystem().on('ip.inspect', () => ({ links: [lo(true)], sysctls: ['0'] }))
    expect((await run(sys, 'CHECK', conf)).exitCode).toBe(0)
    expect(sys.callsOf('ip.inspect').map((c) => c.args)).toEqual([['lo', NETNS, ['net/ipv6/conf/lo/disable_ipv6']]])
  })

  it('fails for a down lo, listing every problem in details', async () => {
    const sys = createFakeSystem().on('ip.inspect', () => ({ links: [lo(false, [addr('inet', '127.0.0.1', 8)])], sysctls: ['0'] }))
    const out = await run(sys, 'CHECK', conf)
    expect(out.exitCode).toBe(1)
    expect(out.json).toMatchObject({ code: 999, msg: 'loopback interface is down (and 1 more)' })
    expect(out.json.details).toContain('no address ::1')
  })

  it('does not want ::1 when IPv6 is disabled on lo or absent from the kernel', async () => {
    for (const sysctl of ['1', undefined]) {
      const sys = createFakeSystem().on('ip.inspect', () => ({ links: [lo(true, [addr('inet', '127.0.0.1', 8)])], sysctls: [sysctl] }))
      expect((await run(sys, 'CHECK', conf)).exitCode).toBe(0)
    }
  })

  it('fails for a namespace that is gone', async () => {
    const sys = createFakeSystem().on('netns.state', () => 'missing')
    expect((await run(sys, 'CHECK', conf)).json).toMatchObject({ code: 999, msg: expect.stringContaining('CNI_NETNS') })
  })
})

describe('loopback GC and STATUS', () => {
  it.each(['GC', 'STATUS'])('%s succeeds with nothing printed and nothing touched', async (verb) => {
    const sys = createFakeSystem()
    const out = await run(sys, verb, { cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }, { CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '' })
    expect(out).toMatchObject({ exitCode: 0, stdout: '' })
    expect(sys.calls.filter((c) => c.method !== 'netns.isOwn')).toEqual([])
  })

  it('GC and STATUS keep the version gate: 1.0.0 is refused with code 1', async () => {
    const out = await run(createFakeSystem(), 'STATUS', { cniVersion: '1.0.0' })
    expect(out.json).toMatchObject({ code: 1, msg: 'config version does not allow STATUS' })
  })
})
