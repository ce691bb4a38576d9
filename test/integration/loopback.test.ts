// The loopback role through the built executable in a throwaway host namespace, side by side with the reference
// loopback (Debian's /usr/lib/cni/loopback) on the same container namespace: ADD in all seven versions, DEL with
// the namespace present, gone and empty, CHECK passing and failing.
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { REFERENCE_DIR } from '../support/host-local.ts'
import type { TestNetns } from '../support/netns.ts'
import { runOk, runPlugin, type PluginCall } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
const node = useTestNode()

interface LoState {
  up: boolean
  addrs: string[]
}

async function loState(ns: TestNetns): Promise<LoState> {
  const [lo] = await ns.ipJson<Array<{ flags: string[]; addr_info: Array<{ local: string; prefixlen: number }> }>>(['addr', 'show', 'dev', 'lo'])
  return { up: lo!.flags.includes('UP'), addrs: lo!.addr_info.map((a) => `${a.local}/${a.prefixlen}`) }
}

// A container namespace whose lo is down, as a runtime creates it.
async function container(): Promise<TestNetns> {
  const ns = await node.pool.create('tscni-lo')
  await ns.exec('ip', ['link', 'set', 'lo', 'down'])
  return ns
}

// containerd's CRI sends exactly this: type loopback, CNI_IFNAME=lo.
function call(verb: PluginCall['verb'], ns: string, cniVersion: string, extra: Partial<PluginCall> = {}): PluginCall {
  return { role: 'loopback', verb, host: node.host, containerId: 'pod-1', netns: ns, ifname: 'lo', config: { cniVersion, name: 'cni-loopback', type: 'loopback' }, ...extra }
}

/**
 * The reference's result for the same input, read as current upstream prints it. Debian's build (plugins 1.1.1
 * with an older CNI library) differs from upstream in two ways, both followed here as upstream does them: it prints
 * an empty `"dns": {}` that upstream's result type drops (containernetworking/cni types100 Result.MarshalJSON),
 * and it does not know cniVersion 1.1.0, whose result upstream prints exactly like 1.0.0's with the version changed.
 */
async function referenceAdd(ns: TestNetns, cniVersion: string): Promise<Record<string, unknown>> {
  const asked = cniVersion === '1.1.0' ? '1.0.0' : cniVersion
  const reply = await runOk(call('ADD', ns.path, asked, { binDir: REFERENCE_DIR }))
  const { dns, ...rest } = reply.json as Record<string, unknown>
  expect(dns ?? {}).toEqual({})
  return { ...rest, cniVersion }
}

describe('loopback ADD', () => {
  it.each(VERSIONS)('cniVersion %s: lo comes up, answers ping 127.0.0.1, and the result is the reference\'s', async (v) => {
    const ns = await container()
    expect((await loState(ns)).up).toBe(false)

    const ours = await runOk(call('ADD', ns.path, v))
    const state = await loState(ns)
    expect(state).toEqual({ up: true, addrs: ['127.0.0.1/8', '::1/128'] })
    await ns.exec('ping', ['-c', '1', '-W', '2', '127.0.0.1'])
    await ns.exec('ping', ['-6', '-c', '1', '-W', '2', '::1'])

    // The reference on the same namespace, brought back to the state our ADD found.
    await ns.exec('ip', ['link', 'set', 'lo', 'down'])
    const reference = await referenceAdd(ns, v)
    expect((await loState(ns)).up).toBe(true)
    // Field by field, so a difference names the field.
    expect(Object.keys(ours.json).sort()).toEqual(Object.keys(reference).sort())
    for (const key of Object.keys(reference)) expect({ [key]: ours.json[key] }).toEqual({ [key]: reference[key] })
    expect(ours.json).toEqual({
      cniVersion: v,
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: ns.path }],
      ips: [{ interface: 0, address: '127.0.0.1/8' }, { interface: 0, address: '::1/128' }],
    })
  })

  it('ignores CNI_IFNAME like the reference: always lo', async () => {
    const ns = await container()
    const ours = await runOk(call('ADD', ns.path, '0.3.1', { ifname: 'eth0' }))
    await ns.exec('ip', ['link', 'set', 'lo', 'down'])
    const reference = await runOk(call('ADD', ns.path, '0.3.1', { ifname: 'eth0', binDir: REFERENCE_DIR }))
    expect(ours.json.interfaces).toEqual(reference.json.interfaces)
    expect(ours.json.interfaces[0].name).toBe('lo')
  })

  it('without IPv6 on lo, reports 127.0.0.1 only, as the reference does', async () => {
    const ns = await container()
    await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.lo.disable_ipv6=1'])
    const ours = await runOk(call('ADD', ns.path, '0.4.0'))
    await ns.exec('ip', ['link', 'set', 'lo', 'down'])
    const reference = await referenceAdd(ns, '0.4.0')
    expect(ours.json).toEqual(reference)
    expect(ours.json.ips).toEqual([{ interface: 0, address: '127.0.0.1/8' }])
    // CHECK does not ask for ::1 when IPv6 is disabled on lo.
    expect((await runPlugin(call('CHECK', ns.path, '1.0.0'))).exitCode).toBe(0)
  })

  it('passes prevResult on in the config version, like the reference, and still brings lo up', async () => {
    const prevResult = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/run/netns/x' }],
      ips: [{ version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
      dns: { nameservers: ['10.1.0.1'] },
    }
    const ns = await container()
    const config = { cniVersion: '0.4.0', name: 'cni-loopback', type: 'loopback', prevResult }
    const ours = await runOk(call('ADD', ns.path, '0.4.0', { config }))
    expect((await loState(ns)).up).toBe(true)
    await ns.exec('ip', ['link', 'set', 'lo', 'down'])
    const reference = await runOk(call('ADD', ns.path, '0.4.0', { config, binDir: REFERENCE_DIR }))
    expect(ours.json).toEqual(reference.json)
    expect(ours.json).toEqual(prevResult)
  })

  it('fails for a namespace that does not exist, naming CNI_NETNS', async () => {
    const reply = await runPlugin(call('ADD', '/run/netns/tscni-lo-none', '0.3.1'))
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 999, msg: 'failed to open netns "/run/netns/tscni-lo-none" (CNI_NETNS): no such file' })
  })
})

describe('loopback DEL', () => {
  it('with the namespace present: brings lo down, prints nothing', async () => {
    const ns = await container()
    await runOk(call('ADD', ns.path, '0.3.1'))
    const reply = await runOk(call('DEL', ns.path, '0.3.1'))
    expect(reply.stdout).toBe('')
    expect((await loState(ns)).up).toBe(false)
    // Repeated: still success.
    expect((await runPlugin(call('DEL', ns.path, '0.3.1'))).exitCode).toBe(0)
  })

  it('with the namespace deleted, with CNI_NETNS empty, and with a path that is no namespace: success, nothing printed', async () => {
    const ns = await container()
    await runOk(call('ADD', ns.path, '0.3.1'))
    await execa('ip', ['netns', 'del', ns.name])
    for (const netns of [ns.path, '', '/etc/hostname']) {
      const reply = await runPlugin(call('DEL', netns, '0.3.1'))
      expect({ netns, exitCode: reply.exitCode, stdout: reply.stdout }).toEqual({ netns, exitCode: 0, stdout: '' })
    }
  })
})

describe('loopback CHECK', () => {
  it('passes after ADD and fails once lo is down, saying so', async () => {
    const ns = await container()
    await runOk(call('ADD', ns.path, '1.0.0'))
    const ok = await runPlugin(call('CHECK', ns.path, '1.0.0'))
    expect({ exitCode: ok.exitCode, stdout: ok.stdout }).toEqual({ exitCode: 0, stdout: '' })

    await ns.exec('ip', ['link', 'set', 'lo', 'down'])
    const down = await runPlugin(call('CHECK', ns.path, '1.0.0'))
    expect(down.exitCode).toBe(1)
    expect(down.json.msg).toMatch(/^loopback interface is down/)
    // The reference agrees that this lo fails CHECK.
    expect((await runPlugin(call('CHECK', ns.path, '1.0.0', { binDir: REFERENCE_DIR }))).exitCode).toBe(1)
  })

  it('fails when 127.0.0.1 was removed from a lo that is up', async () => {
    const ns = await container()
    await runOk(call('ADD', ns.path, '1.1.0'))
    await ns.exec('ip', ['addr', 'del', '127.0.0.1/8', 'dev', 'lo'])
    const reply = await runPlugin(call('CHECK', ns.path, '1.1.0'))
    expect(reply.exitCode).toBe(1)
    expect(reply.json.msg).toMatch(/no address 127\.0\.0\.1/)
  })
})

describe('loopback VERSION, GC, STATUS', () => {
  it('VERSION lists all seven versions under both names', async () => {
    for (const role of ['loopback', 'tscni-loopback']) {
      const reply = await runOk({ role, verb: 'VERSION' })
      expect(reply.json).toEqual({ cniVersion: '1.1.0', supportedVersions: VERSIONS })
    }
  })

  it('GC and STATUS succeed with nothing printed', async () => {
    const config = { cniVersion: '1.1.0', name: 'cni-loopback', type: 'loopback', 'cni.dev/valid-attachments': [] }
    for (const verb of ['GC', 'STATUS'] as const) {
      const reply = await runPlugin({ role: 'tscni-loopback', verb, host: node.host, config })
      expect({ verb, exitCode: reply.exitCode, stdout: reply.stdout }).toEqual({ verb, exitCode: 0, stdout: '' })
    }
  })
})
