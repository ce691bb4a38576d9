// The CNI protocol through the real executable and its links: VERSION, error codes, the about text.
import { afterEach, describe, expect, it } from 'vitest'
import { NetnsPool } from '../support/netns.ts'
import { runPlugin } from '../support/run-plugin.ts'

const ALL_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
const ROLES = ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback', 'bridge', 'host-local', 'portmap', 'loopback']
const ADD_ENV = { containerId: 'c1', netns: '/run/netns/none', ifname: 'eth0' }
const pool = new NetnsPool()
afterEach(() => pool.cleanup())

describe('VERSION', () => {
  it.each(ROLES)('%s prints all seven versions', async (role) => {
    const reply = await runPlugin({ role, verb: 'VERSION' })
    expect(reply.exitCode).toBe(0)
    expect(reply.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ALL_VERSIONS })
  })

  it('answers inside a throwaway host namespace with the probe libcni sends', async () => {
    const host = await pool.create()
    const reply = await runPlugin({ role: 'tscni-bridge', verb: 'VERSION', host, stdin: '{"cniVersion":"1.1.0"}', env: { CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' } })
    expect(reply.exitCode).toBe(0)
    expect(reply.json.supportedVersions).toEqual(ALL_VERSIONS)
  })
})

describe('errors through the real executable', () => {
  it('broken stdin gives code 6', async () => {
    const reply = await runPlugin({ role: 'tscni-host-local', verb: 'ADD', ...ADD_ENV, stdin: '{"cniVersion": "1.0.0", ' })
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 6, cniVersion: '1.1.0' })
    expect(reply.json.msg).toMatch(/error parsing network config/)
  })

  it('an unsupported cniVersion gives code 1 naming the version', async () => {
    const reply = await runPlugin({ role: 'tscni-bridge', verb: 'ADD', ...ADD_ENV, config: { cniVersion: '2.0.0', name: 'n', type: 'bridge' } })
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 1, msg: 'incompatible CNI versions' })
    expect(reply.json.details).toContain('"2.0.0"')
  })

  it('a missing CNI_CONTAINERID gives code 4 naming the variable', async () => {
    const reply = await runPlugin({ role: 'tscni-portmap', verb: 'ADD', netns: '/run/netns/none', ifname: 'eth0', config: { cniVersion: '1.0.0', name: 'n', type: 'portmap' } })
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toEqual({ cniVersion: '1.1.0', code: 4, msg: 'required env variables [CNI_CONTAINERID] missing' })
  })

  it('an unknown verb gives code 4', async () => {
    const reply = await runPlugin({ role: 'bridge', verb: 'NOPE' as 'ADD', ...ADD_ENV, config: {} })
    expect(reply.json).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND: NOPE' })
  })

  it('GC with a 1.0.0 config is refused with code 1', async () => {
    const reply = await runPlugin({ role: 'tscni-host-local', verb: 'GC', config: { cniVersion: '1.0.0', name: 'n', type: 'host-local' } })
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 1, msg: 'config version does not allow GC', cniVersion: '1.0.0' })
  })

  it('refuses to ADD in its own network namespace (code 8) before touching anything', async () => {
    const host = await pool.create()
    const reply = await runPlugin({ role: 'tscni-bridge', verb: 'ADD', host, containerId: 'c1', netns: host.path, ifname: 'lo', config: { cniVersion: '1.0.0', name: 'n', type: 'bridge' } })
    expect(reply.json).toMatchObject({ code: 8 })
    const links = await host.ipJson<Array<{ ifname: string }>>(['link', 'show'])
    expect(links.map((l) => l.ifname)).toEqual(['lo'])
  })

  it('a DEL naming its own network namespace succeeds without touching the interface of that name', async () => {
    const host = await pool.create()
    await host.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])
    const reply = await runPlugin({ role: 'tscni-bridge', verb: 'DEL', host, containerId: 'c1', netns: host.path, ifname: 'eth0', config: { cniVersion: '1.0.0', name: 'n', type: 'bridge' } })
    expect(reply.exitCode, reply.stdout).toBe(0)
    const links = await host.ipJson<Array<{ ifname: string }>>(['link', 'show'])
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'eth0p', 'lo'])
  })
})

describe('without CNI_COMMAND', () => {
  it('prints the about text and the versions on stderr and exits 0, with nothing on stdout', async () => {
    const reply = await runPlugin({ role: 'tscni-bridge', verb: '' })
    expect(reply.exitCode).toBe(0)
    expect(reply.stdout).toBe('')
    expect(reply.stderr).toContain('CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0')
  })
})
