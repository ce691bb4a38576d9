// dnsname against hostile or unlucky file-system state and names, through the real executable, dnsmasq and the
// kernel in throwaway namespaces: a planted link is refused and its target untouched; with host-local's own data
// dir the last DEL keeps the reservations; files of tscni 0.1.0 are removed by DEL; a network named "constructor"
// works with aliases; pods of two Kubernetes namespaces never share a bare name.
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { CniRuntime, PluginFailure, type Attachment } from '../support/cni-runtime.ts'
import { answers, dnsNetwork, fakeUpstream, killServersUnder, makeDnsDir, query, serversUnder, type FakeUpstream } from '../support/dns.ts'
import type { TestNetns } from '../support/netns.ts'
import { containerIps, gateways } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let dnsDir: string
let upstream: FakeUpstream & { resolvConf: string }

beforeEach(async () => {
  const d = makeDnsDir()
  dnsDir = d.dir
  node.defer(d.cleanup, () => killServersUnder(d.dir))
  upstream = await fakeUpstream(node.host, dnsDir)
  node.defer(() => upstream.stop())
})

const runtime = (dns: Record<string, unknown> = {}, name?: string) =>
  new CniRuntime(dnsNetwork(node.dataDir, dnsDir, upstream.resolvConf, dns, name), { binDir: node.bin, hostNetns: node.host.name })

function pod(ns: TestNetns, containerId: string, args: ReadonlyArray<readonly [string, string]> = [], aliases: Record<string, string[]> = {}): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { aliases }, cniArgs: [['IgnoreUnknown', '1'], ...args] }
}

describe('dnsname files', () => {
  it('refuses a planted link <dataDir>/<network> -> victim: ADD fails, nothing is written there, its mode stays 0700', async () => {
    const victim = join(dnsDir, 'victim')
    mkdirSync(victim, { mode: 0o700 })
    symlinkSync(victim, join(dnsDir, 'tscni'))
    const cni = runtime()
    const c1 = await node.pool.create('tscni-c')
    const failure = await cni.add(pod(c1, 'link00000000000000001')).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(PluginFailure)
    expect((failure as PluginFailure).error).toMatchObject({ code: 5, msg: `refusing to keep DNS files in ${dnsDir}/tscni: it is a symbolic link` })
    expect(readdirSync(victim)).toEqual([])
    expect(statSync(victim).mode & 0o777).toBe(0o700)
    expect(serversUnder(dnsDir)).toEqual([])
    await cni.del(pod(c1, 'link00000000000000001'))
  })

  it('with dataDir = host-local\'s data dir, the last dnsname DEL leaves host-local\'s reservations and lock', async () => {
    chmodSync(node.dataDir, 0o755)
    const cni = new CniRuntime(dnsNetwork(node.dataDir, node.dataDir, upstream.resolvConf), { binDir: node.bin, hostNetns: node.host.name })
    const c1 = await node.pool.create('tscni-c')
    const att = pod(c1, 'shared0000000000000001', [['K8S_POD_NAME', 'shared']])
    const r = await cni.add(att)
    const ip = containerIps(r).v4
    expect(await answers(c1, gateways(r).v4, 'shared')).toEqual([ip])
    const netDir = join(node.dataDir, 'tscni')
    expect(readdirSync(netDir)).toEqual(expect.arrayContaining([ip, 'lock', 'dnsmasq.conf', 'hosts']))
    // The runtime DELs dnsname first (reverse order): its last attachment is gone, host-local's is not yet.
    await cni.runOne('DEL', 'dnsname', att)
    expect(serversUnder(node.dataDir)).toEqual([])
    const left = readdirSync(netDir)
    expect(left).toEqual(expect.arrayContaining([ip, 'lock']))
    expect(left).not.toEqual(expect.arrayContaining(['dnsmasq.conf']))
    expect(left).not.toContain('hosts')
    await cni.del(att)
    expect(existsSync(join(netDir, ip))).toBe(false)
  })

  it('DEL removes a hosts file tscni 0.1.0 wrote (<id>-<ifname>) and the last one stops the server', async () => {
    const cni = runtime()
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const fresh = pod(c1, 'upgr00000000000000001', [['K8S_POD_NAME', 'fresh']])
    const r = await cni.add(fresh)
    // An attachment made before the upgrade: its file has the old name.
    const old = pod(c2, 'upgr00000000000000002')
    writeFileSync(join(dnsDir, 'tscni/hosts/upgr00000000000000002-eth0'), '10.47.0.99 veteran.dns.tscni veteran\n', { mode: 0o644 })
    expect(await answers(c1, gateways(r).v4, 'veteran')).toEqual(['10.47.0.99'])
    await cni.runOne('DEL', 'dnsname', old)
    expect(await query(c1, gateways(r).v4, 'veteran', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(readdirSync(join(dnsDir, 'tscni/hosts'))).toEqual(['upgr00000000000000001:eth0'])
    await cni.del(fresh)
    expect(existsSync(join(dnsDir, 'tscni'))).toBe(false)
  })
})

describe('dnsname names', () => {
  it('a network named "constructor" with an aliases map: ADD works with and without its own entry', async () => {
    const cni = runtime({}, 'constructor')
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    // Aliases for other networks only: Object.prototype.constructor is not this network's alias list.
    const plain = pod(c1, 'ctor00000000000000001', [['K8S_POD_NAME', 'ctor']], { other: ['x'] })
    const r1 = await cni.add(plain)
    const aliased = pod(c2, 'ctor00000000000000002', [], { constructor: ['builder'], other: ['x'] })
    const r2 = await cni.add(aliased)
    expect(await answers(c1, gateways(r1).v4, 'ctor')).toEqual([containerIps(r1).v4])
    expect(await answers(c1, gateways(r1).v4, 'builder')).toEqual([containerIps(r2).v4])
    expect(await query(c1, gateways(r1).v4, 'x', 'A')).toEqual({ code: 'ENOTFOUND' })
    await cni.del(aliased)
    await cni.del(plain)
  })

  it('Kubernetes pods: "db" of namespace b never takes part of "db" of namespace a; both answer <pod>.<namespace>', async () => {
    const cni = runtime()
    const [ca, cb, client] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const a = pod(ca, 'k8sa0000000000000001', [['K8S_POD_NAMESPACE', 'team-a'], ['K8S_POD_NAME', 'db']])
    const b = pod(cb, 'k8sb0000000000000001', [['K8S_POD_NAMESPACE', 'team-b'], ['K8S_POD_NAME', 'db']])
    const ra = await cni.add(a)
    const rb = await cni.add(b)
    await cni.add(pod(client, 'k8sc0000000000000001', [['K8S_POD_NAMESPACE', 'team-b'], ['K8S_POD_NAME', 'client']]))
    const gw = gateways(ra).v4
    const [ipA, ipB] = [containerIps(ra).v4, containerIps(rb).v4]
    for (let i = 0; i < 4; i++) expect(await answers(client, gw, 'db')).toEqual([ipA])
    expect(await answers(client, gw, 'db.team-a')).toEqual([ipA])
    expect(await answers(client, gw, 'db.team-b')).toEqual([ipB])
    expect(await answers(client, gw, 'db.team-b.dns.tscni')).toEqual([ipB])
    expect(await answers(client, gw, ipB, 'PTR')).toEqual(['db.team-b.dns.tscni'])
  })
})
