// `tscni doctor` through the real executable, run inside a throwaway host namespace with temp data, conf and
// cache dirs: a healthy node, a leaked reservation, missing tools, and stale firewall rules after lost IPAM state.
import { execa } from 'execa'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TOOLS, type Check } from '../../src/cli/doctor-checks.ts'
import { makeBinDir, reservations } from '../support/bridge.ts'
import { CniRuntime, loadConfList } from '../support/cni-runtime.ts'
import { NetnsPool, type TestNetns } from '../support/netns.ts'
import { binDir, runOk } from '../support/run-plugin.ts'

const pool = new NetnsPool()
const cleanups: Array<() => void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c()
  await pool.cleanup()
})

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Temp data, conf and cache dirs (the cache with an empty results dir, as libcni leaves it). */
function nodeDirs(): { dataDir: string; confDir: string; cacheDir: string; stateDir: string; args: string[] } {
  const root = tempDir('tscni-doctor-')
  const dirs = { dataDir: join(root, 'networks'), confDir: join(root, 'net.d'), cacheDir: join(root, 'cache'), stateDir: join(root, 'state') }
  mkdirSync(dirs.confDir)
  mkdirSync(join(dirs.cacheDir, 'results'), { recursive: true })
  // The node's own state dir: records other test files write meanwhile are not this node's.
  return { ...dirs, args: ['--data-dir', dirs.dataDir, '--conf-dir', dirs.confDir, '--cache-dir', dirs.cacheDir, '--state-dir', dirs.stateDir] }
}

interface DoctorRun {
  readonly exitCode: number
  readonly stdout: string
  readonly checks: Check[]
  /** The checks with this name. */
  named(name: string): Check[]
}

const IP = execFileSync('sh', ['-c', 'command -v ip']).toString().trim()

/** Runs `tscni doctor --json ARGS` inside `host` (and the text report, for the failure message and one test). */
async function doctor(host: TestNetns, args: readonly string[], env: Record<string, string> = { PATH: process.env.PATH ?? '' }): Promise<DoctorRun> {
  const run = (extra: string[]) => execa(IP, ['netns', 'exec', host.name, join(binDir(), 'tscni'), 'doctor', ...args, ...extra], { env, extendEnv: false, reject: false, timeout: 60_000 })
  const [json, text] = await Promise.all([run(['--json']), run([])])
  expect(text.exitCode, `${text.stdout}\n${text.stderr}`).toBe(json.exitCode)
  const checks = (JSON.parse(json.stdout) as { checks: Check[] }).checks
  return { exitCode: json.exitCode ?? -1, stdout: text.stdout, checks, named: (name) => checks.filter((c) => c.check === name) }
}

// A host-local config list with its data dir, written into the conf dir.
function writeIpamConf(confDir: string, dataDir: string): Record<string, unknown> {
  const conf = { cniVersion: '1.1.0', name: 'tscni', type: 'tscni-host-local', ipam: { type: 'tscni-host-local', dataDir, ranges: [[{ subnet: '10.47.0.0/24' }]] } }
  writeFileSync(join(confDir, '10-tscni.conf'), JSON.stringify(conf))
  return conf
}

// What libcni writes after a successful ADD.
function writeCacheEntry(cacheDir: string, network: string, containerId: string, ifname: string, netns: string): string {
  const file = join(cacheDir, 'results', `${network}-${containerId}-${ifname}`)
  writeFileSync(file, JSON.stringify({ kind: 'cniCacheV1', containerId, ifName: ifname, networkName: network, netns, config: '', result: {} }))
  return file
}

describe('tscni doctor', () => {
  it('on a healthy empty node reports every check and exits 0', async () => {
    const host = await pool.create('tscni-dr')
    const dirs = nodeDirs()
    writeIpamConf(dirs.confDir, dirs.dataDir)
    const res = await doctor(host, dirs.args)
    expect(res.checks.filter((c) => c.status === 'fail' || c.status === 'warn'), res.stdout).toEqual([])
    expect(res.exitCode).toBe(0)
    expect(res.stdout).toMatch(/^ok {4}tool iptables +iptables v\S+ \((nf_tables|legacy)\): the (nf_tables|legacy) variant \(\/\S+\/iptables\)$/m)
    expect(res.stdout).toMatch(/^ok {4}firewall choice +automatic selection .* picks iptables/m)
    expect(res.stdout).toMatch(/^info  forwarding ipv4 +net\.ipv4\.ip_forward = [01]/m)
    expect(res.stdout).toMatch(/^ok {4}data dir +.* does not exist yet; host-local creates it/m)
    expect(res.stdout).toMatch(/^ok {4}firewall rules +no CNI rules in iptables, ip6tables, nftables$/m)
    expect(res.stdout).toMatch(/\n\d+ ok, 0 warn, 0 FAIL, \d+ info: ready$/)
  })

  it('finds a reservation whose container namespace was deleted, and is clean again after DEL', async () => {
    const host = await pool.create('tscni-dr')
    const ctr = await pool.create('tscni-dr-c')
    const dirs = nodeDirs()
    const conf = writeIpamConf(dirs.confDir, dirs.dataDir)
    const call = { role: 'tscni-host-local', config: conf, containerId: 'leak-1', ifname: 'eth0', netns: ctr.path, host } as const
    const add = await runOk({ ...call, verb: 'ADD' })
    const ip = String(add.json.ips[0].address).split('/')[0]
    writeCacheEntry(dirs.cacheDir, 'tscni', 'leak-1', 'eth0', ctr.path)

    const alive = await doctor(host, dirs.args)
    expect(alive.named('reservations')).toEqual([expect.objectContaining({ status: 'ok', detail: expect.stringContaining('1 with a live namespace') })])
    expect(alive.exitCode).toBe(0)

    await execa('ip', ['netns', 'del', ctr.name])
    const leaked = await doctor(host, dirs.args)
    expect(leaked.named('leak')).toEqual([{
      check: 'leak',
      status: 'fail',
      detail: `network tscni ${ip}: container leak-1 ifname eth0: the container is gone (${ctr.path} no longer exists)`,
      remedy: 'tscni gc --network tscni --valid FILE (FILE lists the attachments still in use), or a CNI DEL for container leak-1 ifname eth0 on network tscni (DEL needs no namespace)',
    }])
    expect(leaked.exitCode).toBe(1)
    expect(leaked.stdout).toMatch(/^FAIL  leak +network tscni /m)
    expect(leaked.stdout).toMatch(/1 FAIL, \d+ info: 1 problem\(s\) to fix \(exit 1\)$/)

    await runOk({ ...call, verb: 'DEL', netns: '' })
    const clean = await doctor(host, dirs.args)
    expect(clean.named('leak')).toEqual([])
    expect(clean.named('reservations')[0]).toMatchObject({ status: 'ok', detail: expect.stringContaining('no addresses reserved') })
    expect(clean.exitCode).toBe(0)
  })

  describe('with tools missing from the PATH (TSCNI_SYSTEM_PATH replaces the built-in dirs)', () => {
    function pathWithout(...missing: string[]): Record<string, string> {
      const dir = tempDir('tscni-doctor-path-')
      for (const tool of TOOLS.filter((t) => !missing.includes(t))) {
        symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim(), join(dir, tool))
      }
      return { PATH: dir, TSCNI_SYSTEM_PATH: dir }
    }

    it('without nft, conntrack and bridge: each reported missing with what stops working, iptables chosen, exit 0', async () => {
      const host = await pool.create('tscni-dr')
      const dirs = nodeDirs()
      writeIpamConf(dirs.confDir, dirs.dataDir)
      const env = pathWithout('nft', 'conntrack', 'bridge')
      const res = await doctor(host, dirs.args, env)
      expect(res.named('tool nft')).toEqual([expect.objectContaining({ status: 'warn', detail: expect.stringMatching(/^not found: configs asking for the nftables backend fail/) })])
      expect(res.named('tool conntrack')).toEqual([expect.objectContaining({ status: 'warn', detail: expect.stringContaining('stale UDP conntrack entries are not flushed') })])
      expect(res.named('tool bridge')).toEqual([expect.objectContaining({ status: 'warn', detail: expect.stringMatching(/^not found: bridge configs with vlan or vlanTrunk fail/) })])
      expect(res.named('tool sh')).toEqual([expect.objectContaining({ status: 'ok', detail: `version unknown (${env.PATH}/sh)` })])
      expect(res.named('firewall nftables')[0]).toMatchObject({ status: 'info', detail: 'not usable: nft not found' })
      expect(res.named('firewall choice')[0]).toMatchObject({ status: 'ok', detail: expect.stringContaining('picks iptables') })
      expect(res.named('firewall rules').map((c) => c.detail)).toContain('nftables rules not checked: nft not found')
      expect(res.named('tool ip')[0]!.detail).toMatch(new RegExp(`^ip utility, iproute2-\\S+ .*\\(${env.PATH}/ip\\)$`))
      expect(res.exitCode).toBe(0)
    })

    it('without nsenter: fails and exits 1', async () => {
      const host = await pool.create('tscni-dr')
      const dirs = nodeDirs()
      const res = await doctor(host, dirs.args, pathWithout('nsenter'))
      expect(res.named('tool nsenter')).toEqual([expect.objectContaining({ status: 'fail', detail: expect.stringMatching(/^not found: bridge cannot configure the container side/) })])
      expect(res.exitCode).toBe(1)
    })

    it('without iptables and nft: no usable backend, exit 1', async () => {
      const host = await pool.create('tscni-dr')
      const dirs = nodeDirs()
      const res = await doctor(host, dirs.args, pathWithout('iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore', 'nft'))
      expect(res.named('firewall choice')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining('no usable firewall backend') })
      expect(res.named('tool iptables')[0]!.status).toBe('fail')
      expect(res.exitCode).toBe(1)
    })
  })

  describe.each(['iptables', 'nftables'] as const)('stale rules with the %s backend', (backend) => {
    it('are reported, with their owner, once the reservation and the runtime record are lost', async () => {
      const host = await pool.create('tscni-dr')
      const ctr = await pool.create('tscni-dr-c')
      const dirs = nodeDirs()
      const bin = makeBinDir()
      cleanups.push(bin.cleanup)
      const list = loadConfList(resolve('conf', `bridge-host-local-portmap-${backend}.conflist`))
      const bridge = list.plugins[0]!
      bridge.ipam = { ...(bridge.ipam as Record<string, unknown>), dataDir: dirs.dataDir }
      writeFileSync(join(dirs.confDir, '10-tscni.conflist'), JSON.stringify(list))
      const runtime = new CniRuntime(list, { binDir: bin.dir, hostNetns: host.name })
      const att = { containerId: 'stale-1', netns: ctr.path, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }
      await runtime.add(att)
      const cacheFile = writeCacheEntry(dirs.cacheDir, 'tscni', 'stale-1', 'eth0', ctr.path)

      const healthy = await doctor(host, dirs.args)
      expect(healthy.named('stale rules')).toEqual([])
      expect(healthy.named('firewall rules')[0]).toMatchObject({ status: 'ok', detail: expect.stringMatching(/owner\(s\) of CNI rules .* each with a reservation or runtime record/) })
      expect(healthy.exitCode).toBe(0)

      // Lost IPAM state: the runtime's record still owns the rules, so they are not stale yet.
      for (const file of reservations(dirs.dataDir, 'tscni')) unlinkSync(join(dirs.dataDir, 'tscni', file))
      expect((await doctor(host, dirs.args)).named('stale rules')).toEqual([])

      // ... and the runtime forgot the attachment too: nothing on the node owns the rules any more.
      unlinkSync(cacheFile)
      const stale = await doctor(host, dirs.args)
      const found = stale.named('stale rules')
      const expected = backend === 'iptables'
        ? [
            /^iptables masquerade rules \(3\) of network tscni container stale-1: /,
            /^iptables port mapping rules \(1\) of network tscni container stale-1: /,
            /^ip6tables masquerade rules \(3\) of network tscni container stale-1: /,
            /^ip6tables port mapping rules \(1\) of network tscni container stale-1: /,
          ]
        : [
            /^nftables masquerade rules \(2\) of network tscni container stale-1 ifname eth0: /,
            /^nftables port mapping rules \(1\) of network tscni container stale-1 ifname eth0: /,
          ]
      expect(found.map((c) => c.detail), stale.stdout).toEqual(expected.map((re) => expect.stringMatching(re)))
      expect(found.every((c) => c.status === 'fail')).toBe(true)
      expect(stale.stdout).toMatch(/^FAIL  stale rules +/m)
      expect(stale.exitCode).toBe(1)
    })
  })
})
