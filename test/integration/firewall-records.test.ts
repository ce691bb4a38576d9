// The firewall role's attachment records through the tscni command: doctor and reconcile see a live attachment's
// removed accept rules and reconcile restores them (both backends); `tscni gc` removes a gone attachment's rules and
// record; reconcile releases an attachment whose namespace is gone, through the role's own DEL.
import { join } from 'node:path'
import { execa } from 'execa'
import { existsSync, readdirSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'
import { runOk } from '../support/run-plugin.ts'
import { forwardState, runtimeBinDir } from '../support/firewall-role.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let bin: string
beforeEach(() => {
  const b = runtimeBinDir()
  node.defer(b.cleanup)
  bin = b.dir
})

function prevResult(v4: string) {
  return { cniVersion: '1.0.0', interfaces: [{ name: 'fwrbr0' }, { name: 'eth0', sandbox: '/x' }], ips: [{ address: `${v4}/24`, interface: 1 }] }
}

function add(backend: string, containerId: string, netns: string, v4: string) {
  const config = { cniVersion: '1.0.0', name: 'fwrec', type: 'firewall', backend, ingressPolicy: 'same-bridge', prevResult: prevResult(v4) }
  return runOk({ role: 'firewall', verb: 'ADD', config, host: node.host, binDir: bin, containerId, netns, ifname: 'eth0', env: { TSCNI_STATE_DIR: node.stateDir } })
}

async function tscni(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const res = await execa('ip', ['netns', 'exec', node.host.name, join(bin, 'tscni'), ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH, TSCNI_STATE_DIR: node.stateDir } })
  return { exitCode: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) }
}

const records = () => (existsSync(node.stateDir) ? readdirSync(node.stateDir) : [])

async function removeAccepts(backend: string, host: TestNetns, ip: string): Promise<void> {
  if (backend === 'iptables') await host.exec('iptables', ['-D', 'CNI-FORWARD', '-s', `${ip}/32`, '-j', 'ACCEPT'])
  else await host.exec('nft', ['flush', 'chain', 'inet', 'tscni_firewall', 'containers'])
}

describe.each(BACKENDS)('firewall records on %s', (backend) => {
  it('doctor and reconcile find removed accept rules of a live attachment; reconcile restores them', async () => {
    const live = await node.pool.create('tscni-c')
    await add(backend, 'live-1', live.path, '10.70.0.2')
    const cacheDir = join(node.dataDir, 'cache')
    const reconcile = (...a: string[]) => tscni('reconcile', '--state-dir', node.stateDir, '--cache-dir', cacheDir, ...a)
    expect((await reconcile()).stdout).toMatch(/2 rule set\(s\) in place, 0 restored/)
    const before = await forwardState(node.host)
    await removeAccepts(backend, node.host, '10.70.0.2')
    expect(await forwardState(node.host)).not.toEqual(before)
    const doctor = await tscni('doctor', '--state-dir', node.stateDir, '--cache-dir', cacheDir, '--data-dir', node.dataDir)
    expect(doctor.stdout).toMatch(/forwarding accepts of firewall fwrec\/live-1\/eth0/)
    const run = await reconcile()
    expect(run.stdout, run.stderr).toContain(`restored forwarding accepts of firewall fwrec/live-1/eth0 (${backend})`)
    expect((await forwardState(node.host)).sort()).toEqual([...before].sort())
  })

  it('reconcile releases an attachment whose namespace is gone; tscni gc removes one the runtime no longer lists', async () => {
    const gone = await node.pool.create('tscni-c')
    const kept = await node.pool.create('tscni-c')
    const other = await node.pool.create('tscni-c')
    await add(backend, 'gone-1', gone.path, '10.70.0.3')
    await add(backend, 'kept-1', kept.path, '10.70.0.4')
    await add(backend, 'other-1', other.path, '10.70.0.5')
    await execa('ip', ['netns', 'del', gone.name])
    const run = await tscni('reconcile', '--state-dir', node.stateDir, '--cache-dir', join(node.dataDir, 'cache'))
    expect(run.stdout, run.stderr).toMatch(/1 stale released/)
    let state = (await forwardState(node.host)).join('\n')
    expect(state).not.toContain('10.70.0.3')
    expect(state).toContain('10.70.0.4')

    const valid = JSON.stringify([{ containerID: 'kept-1', ifname: 'eth0' }])
    const gc = await execa('ip', ['netns', 'exec', node.host.name, join(bin, 'tscni'), 'gc', '--network', 'fwrec', '--valid', '-', '--data-dir', node.dataDir, '--dns-dir', join(node.dataDir, 'dns')], { input: valid, reject: false, extendEnv: false, env: { PATH: process.env.PATH, TSCNI_STATE_DIR: node.stateDir } })
    expect(gc.exitCode, `${gc.stdout}${gc.stderr}`).toBe(0)
    state = (await forwardState(node.host)).join('\n')
    expect(state).toContain('10.70.0.4')
    expect(state).not.toContain('10.70.0.5')
    expect(records()).toHaveLength(1)
  })
})
