import { describe, expect, it } from 'vitest'
import { resolveInvocation, runPlugin, type InvocationRecord, type PluginIo } from '../../../src/plugin/dispatch.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace, type Context, type RoleHandlers } from '../../../src/plugin/role.ts'
import type { System } from '../../../src/system/index.ts'
import { SystemError } from '../../../src/system/errors.ts'

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }
const CONF = JSON.stringify({ cniVersion: '0.4.0', name: 'net', type: 'bridge' })

function fakeRole(overrides: Partial<RoleHandlers> = {}): RoleHandlers & { calls: string[] } {
  const calls: string[] = []
  const record = (verb: string) => async (ctx: Context) => void calls.push(`${verb} ${ctx.env.containerId} ${ctx.conf.name}`)
  return {
    calls,
    about: 'fake role',
    add: async (ctx) => {
      calls.push(`ADD ${ctx.env.containerId}`)
      return { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }] }
    },
    del: record('DEL'),
    check: record('CHECK'),
    gc: record('GC'),
    status: record('STATUS'),
    ...overrides,
  }
}

function io(env: Record<string, string>, stdin = CONF, own = false): PluginIo & { stdinReads: number } {
  const sys = { netns: { isOwn: async () => own, state: async () => 'ok' } } as unknown as System
  const state = {
    stdinReads: 0,
    env,
    sys,
    readStdin: async () => {
      state.stdinReads++
      return stdin
    },
    makeContext: (cniEnv, conf, raw) => ({ env: cniEnv, conf, stdin: raw, sys, ipam: undefined as never, log: silentLogger, trace: noTrace }),
  } satisfies PluginIo & { stdinReads: number }
  return state
}

describe('resolveInvocation', () => {
  it.each([
    ['bridge', 'bridge'],
    ['tscni-bridge', 'bridge'],
    ['host-local', 'host-local'],
    ['tscni-host-local', 'host-local'],
    ['portmap', 'portmap'],
    ['tscni-portmap', 'portmap'],
  ])('invoked as %s acts as %s', (name, role) => {
    expect(resolveInvocation(name, [])).toEqual({ kind: 'role', role, args: [] })
  })

  it('invoked as tscni (or the bundle) is the tool, or a role busybox-style', () => {
    expect(resolveInvocation('tscni', ['help'])).toEqual({ kind: 'cli', args: ['help'] })
    expect(resolveInvocation('tscni.mjs', [])).toEqual({ kind: 'cli', args: [] })
    expect(resolveInvocation('tscni', ['portmap', 'x'])).toEqual({ kind: 'role', role: 'portmap', args: ['x'] })
  })

  it('any other name is unknown', () => {
    expect(resolveInvocation('macvlan', [])).toEqual({ kind: 'unknown', name: 'macvlan' })
  })
})

describe('runPlugin', () => {
  it('prints the ADD result once, in the config version, and exits 0', async () => {
    const role = fakeRole()
    const out = await runPlugin(role, io(ENV))
    expect(out.exitCode).toBe(0)
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }], dns: {} })
    expect(role.calls).toEqual(['ADD c1'])
  })

  it.each(['DEL', 'CHECK'])('%s prints nothing on success', async (verb) => {
    const role = fakeRole()
    const out = await runPlugin(role, io({ ...ENV, CNI_COMMAND: verb }))
    expect(out).toEqual({ stdout: '', stderr: '', exitCode: 0 })
    expect(role.calls).toEqual([`${verb} c1 net`])
  })

  it('VERSION does not read stdin', async () => {
    const state = io({ CNI_COMMAND: 'VERSION' })
    const out = await runPlugin(fakeRole(), state)
    expect(JSON.parse(out.stdout).supportedVersions).toHaveLength(7)
    expect(state.stdinReads).toBe(0)
  })

  it('without CNI_COMMAND prints the about text on stderr and exits 0', async () => {
    const out = await runPlugin(fakeRole(), io({}))
    expect(out.exitCode).toBe(0)
    expect(out.stdout).toBe('')
    expect(out.stderr).toMatch(/^fake role\nCNI protocol versions supported: 0\.1\.0/)
  })

  it('a CniError from the handler passes through with its code and the config version', async () => {
    const role = fakeRole({ add: async () => { throw new CniError(11, 'busy', { details: 'lock held' }) } })
    const out = await runPlugin(role, io(ENV))
    expect(out.exitCode).toBe(1)
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '0.4.0', code: 11, msg: 'busy', details: 'lock held' })
  })

  it('an unexpected exception becomes code 999 with no stack trace on stdout', async () => {
    const role = fakeRole({ add: async () => { throw new TypeError('boom') } })
    const out = await runPlugin(role, io(ENV))
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '0.4.0', code: 999, msg: 'boom' })
    expect(out.stdout).not.toContain('at ')
  })

  it('a failed command becomes 999 with the command line and its stderr in details', async () => {
    const role = fakeRole({ add: async () => { throw new SystemError({ cmd: 'ip', args: ['link', 'add', 'x'], exitCode: 2, stderr: 'RTNETLINK answers: File exists' }) } })
    const json = JSON.parse((await runPlugin(role, io(ENV))).stdout)
    expect(json.code).toBe(999)
    expect(json.msg).toBe('ip failed (exit status 2): RTNETLINK answers: File exists')
    expect(json.details).toBe('ip link add x\nRTNETLINK answers: File exists')
  })

  it('a stdin read failure is code 5', async () => {
    const state = io(ENV)
    state.readStdin = async () => { throw new Error('EIO') }
    expect(JSON.parse((await runPlugin(fakeRole(), state)).stdout)).toMatchObject({ code: 5, msg: 'error reading from stdin: EIO' })
  })

  it('refuses its own netns before calling the handler (code 8)', async () => {
    const role = fakeRole()
    const out = await runPlugin(role, io(ENV, CONF, true))
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 8 })
    expect(role.calls).toEqual([])
  })

  it('DEL in its own netns goes on as if the netns were gone, so nothing leaks', async () => {
    let seen: string | undefined
    const role = fakeRole({ del: async (ctx) => void (seen = ctx.env.netns) })
    const out = await runPlugin(role, io({ ...ENV, CNI_COMMAND: 'DEL' }, CONF, true))
    expect(out.exitCode).toBe(0)
    expect(seen).toBe('')
  })

  it('CNI_NETNS_OVERRIDE=1 skips that check', async () => {
    const role = fakeRole()
    expect((await runPlugin(role, io({ ...ENV, CNI_NETNS_OVERRIDE: '1' }, CONF, true))).exitCode).toBe(0)
  })

  it('fills the invocation record for the log', async () => {
    const record: InvocationRecord = {}
    await runPlugin(fakeRole(), io(ENV, JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bridge', logFile: '/tmp/x.log' })), record)
    expect(record).toEqual({ verb: 'ADD', containerId: 'c1', ifname: 'eth0', network: 'net', cniVersion: '1.0.0', logFile: '/tmp/x.log', addresses: ['10.0.0.2/24'] })
  })
})
