// tscni ls and tscni gc through the real executable: reservations made by the real host-local and bridge roles,
// firewall rules in a throwaway host namespace.
import { execa } from 'execa'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { firewallText, reservations } from '../support/bridge.ts'
import { CniRuntime, loadConfList } from '../support/cni-runtime.ts'
import { NetnsPool, type TestNetns } from '../support/netns.ts'
import { binDir, runOk } from '../support/run-plugin.ts'

const pool = new NetnsPool()
const dirs: string[] = []
afterEach(async () => {
  await pool.cleanup()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}
const tscni = () => join(binDir(), 'tscni')

// A config dir holding conf/bridge-host-local.conflist with its data dir pointed at `dataDir`.
function confDir(dataDir: string): { dir: string; plugin: Record<string, unknown> } {
  const dir = tempDir('tscni-conf-')
  const list = loadConfList(resolve('conf/bridge-host-local.conflist'))
  ;(list.plugins[0]!.ipam as Record<string, unknown>).dataDir = dataDir
  writeFileSync(join(dir, '10-tscni.conflist'), JSON.stringify(list))
  return { dir, plugin: { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion } }
}

async function hostLocalAdd(config: unknown, containerId: string): Promise<void> {
  await runOk({ role: 'tscni-host-local', verb: 'ADD', config, containerId, netns: '/run/netns/none', ifname: 'eth0' })
}

describe('tscni ls', () => {
  it('lists networks, range-set usage from the config, and every holder', async () => {
    const dataDir = tempDir('tscni-data-')
    const { dir, plugin } = confDir(dataDir)
    await hostLocalAdd(plugin, 'ctr-a')
    await hostLocalAdd(plugin, 'ctr-b')
    const res = await execa(tscni(), ['ls', '--data-dir', dataDir, '--conf-dir', dir])
    expect(res.stdout).toContain(`network tscni  (${dataDir}/tscni, config ${dir}/10-tscni.conflist)`)
    expect(res.stdout).toMatch(/10\.47\.0\.1-10\.47\.255\.254\s+2\s+65533\s+0\.0%/)
    expect(res.stdout).toMatch(/10\.47\.0\.2\s+ctr-a\s+eth0/)
    expect(res.stdout).toMatch(/fd47:7c53:1a10::3\s+ctr-b\s+eth0/)
    const json = JSON.parse((await execa(tscni(), ['ls', '--data-dir', dataDir, '--conf-dir', dir, '--json'])).stdout)
    expect(json.networks[0].reservations).toEqual([
      { ip: '10.47.0.2', containerId: 'ctr-a', ifname: 'eth0' },
      { ip: '10.47.0.3', containerId: 'ctr-b', ifname: 'eth0' },
      { ip: 'fd47:7c53:1a10::2', containerId: 'ctr-a', ifname: 'eth0' },
      { ip: 'fd47:7c53:1a10::3', containerId: 'ctr-b', ifname: 'eth0' },
    ])
    expect(json.networks[0].rangeSets.map((r: { used: number }) => r.used)).toEqual([2, 2])
  })

  it('says so when the data dir holds no network, and reports an unreadable config', async () => {
    const dataDir = tempDir('tscni-data-')
    const dir = tempDir('tscni-conf-')
    writeFileSync(join(dir, 'broken.conflist'), '{ not json')
    const res = await execa(tscni(), ['ls', '--data-dir', dataDir, '--conf-dir', dir])
    expect(res.stdout).toContain(`no networks under ${dataDir}`)
    expect(res.stdout).toContain('broken.conflist: not valid JSON')
  })
})

describe('tscni gc', () => {
  async function gc(host: TestNetns | undefined, args: string[], input?: string) {
    const cmd = host ? ['ip', ['netns', 'exec', host.name, tscni(), 'gc', ...args]] as const : [tscni(), ['gc', ...args]] as const
    return execa(cmd[0], [...cmd[1]], { input: input ?? '', reject: false })
  }

  it('releases the reservations of attachments not in the valid list, including a legacy id-only file', async () => {
    const host = await pool.create()
    const dataDir = tempDir('tscni-data-')
    const { plugin } = confDir(dataDir)
    await hostLocalAdd(plugin, 'keep')
    await hostLocalAdd(plugin, 'stale')
    writeFileSync(join(dataDir, 'tscni', '10.47.0.99'), 'gone-legacy')
    const dry = await gc(host, ['--network', 'tscni', '--data-dir', dataDir, '--valid', '-', '--dry-run'], '[{"containerID":"keep","ifname":"eth0"}]')
    expect(dry.stdout).toContain('would release 10.47.0.3 (container stale, eth0)')
    expect(dry.stdout).toContain('would release 10.47.0.99 (container gone-legacy, legacy id-only file)')
    expect(reservations(dataDir, 'tscni')).toHaveLength(5)
    const res = await gc(host, ['--network', 'tscni', '--data-dir', dataDir, '--valid', '-'], '[{"containerID":"keep","ifname":"eth0"}]')
    expect(res.exitCode).toBe(0)
    expect(res.stdout).toContain('3 address(es) released, 2 kept')
    expect(reservations(dataDir, 'tscni').sort()).toEqual(['10.47.0.2', 'fd47:7c53:1a10::2'])
  })

  it('removes the masquerade rules of a container that is gone, keeping the valid one', async () => {
    const host = await pool.create()
    const dataDir = tempDir('tscni-data-')
    const list = loadConfList(resolve('conf/bridge-host-local.conflist'))
    ;(list.plugins[0]!.ipam as Record<string, unknown>).dataDir = dataDir
    const runtime = new CniRuntime(list, { binDir: binDir(), hostNetns: host.name })
    const a = await pool.create()
    const b = await pool.create()
    await runtime.add({ containerId: 'ctr-keep', netns: a.path, ifname: 'eth0' })
    await runtime.add({ containerId: 'ctr-gone', netns: b.path, ifname: 'eth0' })
    expect(await firewallText(host)).toContain('ctr-gone')
    const validFile = join(tempDir('tscni-valid-'), 'valid.json')
    writeFileSync(validFile, JSON.stringify({ 'cni.dev/valid-attachments': [{ containerID: 'ctr-keep', ifname: 'eth0' }] }))
    const res = await gc(host, ['--network', 'tscni', '--data-dir', dataDir, '--valid', validFile])
    expect(res.exitCode, res.stderr).toBe(0)
    const rules = await firewallText(host)
    expect(rules).not.toContain('ctr-gone')
    expect(rules).toContain('ctr-keep')
    await runtime.del({ containerId: 'ctr-keep', netns: a.path, ifname: 'eth0' })
  })

  it('refuses to run without a valid list (exit 2), so nothing is released by mistake', async () => {
    const res = await gc(undefined, ['--network', 'tscni'])
    expect(res.exitCode).toBe(2)
    expect(res.stderr).toContain('--valid FILE is required')
    const bad = await gc(undefined, ['--network', 'tscni', '--valid', '-'], '{"x": 1}')
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('cannot read the valid attachments')
  })
})
