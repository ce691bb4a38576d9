// The tuning and bandwidth roles' attachment records: written at ADD and removed at DEL; after a simulated reboot
// (the container's namespace gone, its host state kept) `tscni reconcile` releases the dead attachment through each
// role's own DEL: the ifb and the tuning backup go with the bridge's veth, reservation and records.
import { execa } from 'execa'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { CniRuntime, type ConfList } from '../support/cni-runtime.ts'
import { binDir } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let stateDir: string
let cacheDir: string
let tuningDir: string
beforeEach(() => {
  const root = mkdtempSync(join(tmpdir(), 'tscni-tb-records-'))
  node.defer(() => rmSync(root, { recursive: true, force: true }))
  stateDir = join(root, 'state')
  cacheDir = join(root, 'cache')
  tuningDir = join(root, 'tuning')
  mkdirSync(join(cacheDir, 'results'), { recursive: true })
  for (const name of ['tuning', 'bandwidth']) symlinkSync(join(binDir(), 'tscni'), join(node.bin, name))
})

function runtime(): CniRuntime {
  const list: ConfList = {
    cniVersion: '1.0.0',
    name: 'recnet',
    plugins: [
      { type: 'bridge', bridge: 'cni-rec0', isGateway: true, ipam: { type: 'host-local', dataDir: node.dataDir, ranges: [[{ subnet: '10.95.0.0/24' }]] } },
      { type: 'tuning', dataDir: tuningDir, mtu: 1400 },
      { type: 'bandwidth', egressRate: 8_000_000, egressBurst: 80_000 },
    ],
  }
  return new CniRuntime(list, { binDir: node.bin, hostNetns: node.host.name, env: { TSCNI_STATE_DIR: stateDir } })
}

const roles = () => readdirSync(stateDir).map((f) => f.split('-')[0]).sort()
const ifbs = async () => (await linkNames(node.host)).filter((n) => n.startsWith('bwp'))

describe('tuning and bandwidth records', () => {
  it('are written at ADD and removed at DEL', async () => {
    const cni = runtime()
    const c = await node.pool.create('tscni-rec')
    const att = { containerId: 'rec-1', netns: c.path, ifname: 'eth0' }
    await cni.add(att)
    expect(roles()).toEqual(['bandwidth', 'bridge', 'tuning'])
    await cni.del(att)
    expect(readdirSync(stateDir)).toEqual([])
  })

  it('let tscni reconcile release a dead attachment: ifb, backup, records', async () => {
    const cni = runtime()
    const c = await node.pool.create('tscni-rec')
    await cni.add({ containerId: 'rec-2', netns: c.path, ifname: 'eth0' })
    expect(await ifbs()).toHaveLength(1)
    expect(readdirSync(tuningDir)).toEqual(['rec-2_eth0.json'])
    await execa('ip', ['netns', 'del', c.name])

    const res = await execa('ip', ['netns', 'exec', node.host.name, join(node.bin, 'tscni'), 'reconcile', '--state-dir', stateDir, '--cache-dir', cacheDir],
      { reject: false, extendEnv: false, env: { PATH: process.env.PATH } })
    expect(res.exitCode, `${res.stdout}\n${res.stderr}`).toBe(0)
    expect(String(res.stdout)).toMatch(/released bandwidth recnet\/rec-2\/eth0/)
    expect(String(res.stdout)).toMatch(/released tuning recnet\/rec-2\/eth0/)
    expect(await ifbs()).toEqual([])
    expect(readdirSync(tuningDir)).toEqual([])
    expect(readdirSync(stateDir)).toEqual([])
    expect(reservations(node.dataDir, 'recnet')).toEqual([])
  })

  it('let tscni gc remove the ifb and backup of an attachment the runtime no longer lists', async () => {
    const cni = runtime()
    const c = await node.pool.create('tscni-rec')
    await cni.add({ containerId: 'rec-3', netns: c.path, ifname: 'eth0' })
    expect(await ifbs()).toHaveLength(1)
    const res = await execa('ip', ['netns', 'exec', node.host.name, join(node.bin, 'tscni'), 'gc', '--network', 'recnet', '--data-dir', node.dataDir, '--valid', '-'],
      { reject: false, extendEnv: false, env: { PATH: process.env.PATH, TSCNI_STATE_DIR: stateDir }, input: '[]' })
    expect(res.exitCode, `${res.stdout}\n${res.stderr}`).toBe(0)
    expect(await ifbs()).toEqual([])
    expect(readdirSync(tuningDir)).toEqual([])
    expect(readdirSync(stateDir)).toEqual([])
  })
})
