// `tscni reconcile` for the dnsname role through the real executable, dnsmasq and the kernel, for both firewall
// backends, in a throwaway host namespace: ADD records the attachment; after the firewall is flushed doctor names the
// missing DNS access, reconcile puts the port 53 rules back (iptables: with INPUT dropping everything else, the pod
// resolves again only then) and the whole chain's CHECK passes; a killed server is started again; after a simulated
// reboot the dead pod's hosts file is released through dnsname's own DEL, which stops the server.
import { execa } from 'execa'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { CniRuntime, type Attachment } from '../support/cni-runtime.ts'
import { answers, dnsNetwork, fakeUpstream, killServersUnder, makeDnsDir, query, serversUnder } from '../support/dns.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, containerIps, gateways, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let host: TestNetns
let dnsDir: string
let stateDir: string
let cacheDir: string
let resolvConf: string

beforeEach(async () => {
  host = node.host
  const d = makeDnsDir()
  dnsDir = d.dir
  node.defer(d.cleanup, () => killServersUnder(d.dir))
  const up = await fakeUpstream(host, dnsDir)
  node.defer(() => up.stop())
  resolvConf = up.resolvConf
  const root = mkdtempSync(join(tmpdir(), 'tscni-reconcile-dns-'))
  node.defer(() => rmSync(root, { recursive: true, force: true }))
  stateDir = join(root, 'state')
  cacheDir = join(root, 'cache')
  mkdirSync(join(cacheDir, 'results'), { recursive: true })
})

function runtime(backend: Backend): CniRuntime {
  return new CniRuntime(dnsNetwork(node.dataDir, dnsDir, resolvConf, { backend }), { binDir: node.bin, hostNetns: host.name, env: { TSCNI_STATE_DIR: stateDir } })
}

function pod(ns: TestNetns, containerId: string, name: string): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { aliases: { tscni: [] } }, cniArgs: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', name]] }
}

async function tscni(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const res = await execa('ip', ['netns', 'exec', host.name, join(node.bin, 'tscni'), ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH } })
  return { exitCode: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) }
}

const reconcile = (...args: string[]) => tscni('reconcile', '--state-dir', stateDir, '--cache-dir', cacheDir, ...args)
const doctor = () => tscni('doctor', '--state-dir', stateDir, '--cache-dir', cacheDir, '--data-dir', node.dataDir)
const records = () => (existsSync(stateDir) ? readdirSync(stateDir) : []).map((f) => JSON.parse(readFileSync(join(stateDir, f), 'utf8')))

// A firewall reload. iptables: every filter and nat rule goes, the policies stay; nftables: the whole ruleset.
async function flush(backend: Backend): Promise<void> {
  if (backend === 'nftables') return void (await host.exec('nft', ['flush', 'ruleset']))
  for (const tool of ['iptables', 'ip6tables']) {
    await host.exec(tool, ['-F'])
    await host.exec(tool, ['-t', 'nat', '-F'])
  }
}

async function dnsRules(backend: Backend): Promise<string> {
  if (backend === 'nftables') return String((await host.exec('nft', ['list', 'ruleset'])).stdout)
  // Without the timestamps and packet counters, which change with every save.
  const save = async (tool: string) => String((await host.exec(tool, ['-t', 'filter'])).stdout).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/ \[\d+:\d+\]$/, '')).join('\n')
  return `${await save('iptables-save')}\n${await save('ip6tables-save')}`
}

describe.each(BACKENDS)('reconcile restores DNS with %s', (backend) => {
  it('records the attachment; after a flush doctor names the missing access and reconcile restores it; a killed server is started again', async () => {
    const cni = runtime(backend)
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    // iptables: the host drops everything else arriving for it, so only the role's rules let queries in.
    if (backend === 'iptables') await host.exec('iptables', ['-P', 'INPUT', 'DROP'])
    const web = pod(c1, 'dnsrec0000000000000001', 'web')
    const client = pod(c2, 'dnsrec0000000000000002', 'client')
    const rWeb = await cni.add(web)
    await cni.add(client)
    const gw = gateways(rWeb).v4
    const webIp = containerIps(rWeb).v4
    expect(await answers(c2, gw, 'web')).toEqual([webIp])

    const dnsRecords = records().filter((r) => r.role === 'dnsname')
    expect(dnsRecords.map((r) => r.containerId).sort()).toEqual(['dnsrec0000000000000001', 'dnsrec0000000000000002'])
    expect(dnsRecords[0].rules).toMatchObject({ backend, dataDir: dnsDir, pairs: expect.arrayContaining([{ gateway: gw, subnet: '10.47.0.0/16' }]) })
    const inPlace = await reconcile()
    expect(inPlace.stdout).toMatch(/: \d+ rule set\(s\) in place, 0 restored in 0 firewall transaction\(s\)/)
    const before = await dnsRules(backend)

    await flush(backend)
    expect(await dnsRules(backend)).not.toMatch(/dport 53/) // iptables -F leaves the chain, empty
    if (backend === 'iptables') expect(await query(c2, gw, 'web', 'A')).toEqual({ code: 'ETIMEOUT' })
    await expect(cni.check(web)).rejects.toThrow()

    const doc = await doctor()
    expect(doc.exitCode).toBe(1)
    expect(doc.stdout).toMatch(new RegExp(`FAIL\\s+live rules\\s+.*DNS access of network tscni for 2 attachment\\(s\\) \\(${backend}\\)`))
    expect(doc.stdout).toMatch(/remedy: tscni reconcile/)
    expect((await reconcile('--dry-run')).stdout).toContain(`would restore DNS access of network tscni for 2 attachment(s) (${backend})`)
    expect(await dnsRules(backend)).not.toMatch(/dport 53/)

    const run = await reconcile()
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain(`restored DNS access of network tscni for 2 attachment(s) (${backend})`)
    expect(await answers(c2, gw, 'web')).toEqual([webIp])
    await cni.check(web)
    await cni.check(client) // the whole chain: masquerade, spoof check, DNS rules and server
    const restored = await dnsRules(backend)
    if (backend === 'iptables') expect(restored).toBe(before)
    expect((await reconcile()).stdout).toMatch(/0 restored in 0 firewall transaction\(s\)/)
    expect(await dnsRules(backend)).toBe(restored)

    // The server dies: doctor and reconcile see it, reconcile starts it again from the network's own config.
    const [pid] = serversUnder(dnsDir)
    process.kill(pid!, 'SIGKILL')
    for (let i = 0; i < 50 && serversUnder(dnsDir).length > 0; i++) await new Promise((r) => setTimeout(r, 20))
    expect((await doctor()).stdout).toMatch(/FAIL\s+live rules\s+.*DNS server \(dnsmasq\) of network tscni/)
    const again = await reconcile()
    expect(again.exitCode, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain('restored DNS server (dnsmasq) of network tscni')
    expect(serversUnder(dnsDir)).toHaveLength(1)
    expect(await answers(c2, gw, 'web')).toEqual([webIp])
    await cni.check(web)

    await cni.del(web)
    await cni.del(client)
    expect(records()).toEqual([])
    expect(serversUnder(dnsDir)).toEqual([])
  })

  it('after a simulated reboot releases the dead pod\'s hosts file through dnsname\'s DEL; the last one stops the server', async () => {
    const cni = runtime(backend)
    const [dead, live] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const rDead = await cni.add(pod(dead, 'dnsboot000000000000001', 'gone'))
    const rLive = await cni.add(pod(live, 'dnsboot000000000000002', 'stays'))
    const gw = gateways(rLive).v4
    expect(await answers(live, gw, 'gone')).toEqual([containerIps(rDead).v4])
    const hosts = join(dnsDir, 'tscni', 'hosts')
    expect(readdirSync(hosts).sort()).toEqual(['dnsboot000000000000001:eth0', 'dnsboot000000000000002:eth0'])

    await execa('ip', ['netns', 'del', dead.name])
    const run = await reconcile()
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain('released dnsname tscni/dnsboot000000000000001/eth0')
    expect(readdirSync(hosts)).toEqual(['dnsboot000000000000002:eth0'])
    expect(await query(live, gw, 'gone', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(await answers(live, gw, 'stays')).toEqual([containerIps(rLive).v4])
    expect(records().map((r) => `${r.role}:${r.containerId}`).sort()).toEqual(['bridge:dnsboot000000000000002', 'dnsname:dnsboot000000000000002'])

    // The last pod gone too: its DEL through reconcile stops the server and removes the network's DNS state.
    await execa('ip', ['netns', 'del', live.name])
    const last = await reconcile()
    expect(last.stdout).toContain('released dnsname tscni/dnsboot000000000000002/eth0')
    expect(serversUnder(dnsDir)).toEqual([])
    expect(existsSync(join(dnsDir, 'tscni'))).toBe(false)
    expect(await dnsRules(backend)).not.toMatch(/tscni-dns|TSCNI-DNS/)
    expect(records()).toEqual([])
  })
})
