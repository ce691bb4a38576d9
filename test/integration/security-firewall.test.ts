// The firewall side of issue 18 as attacks, through the real executable and the kernel, for both firewall backends,
// each in a throwaway host namespace: a pod routing 127.0.0.1 through its gateway after portmap set route_localnet; a
// LAN neighbour and a pod trying a host port published on hostIP 127.0.0.1; a pod of another network asking this
// network's DNS server; a pod publishing host port 53; a second pod publishing a taken host port. Each attack succeeds on a node without the fixes; here it
// fails, the host's own 127.0.0.1:hostPort and the network's own name resolution keep working, and when the loopback
// drop or the DNS drop is removed behind tscni's back, doctor names it and reconcile puts it back.
import { execa } from 'execa'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { iptablesDnsChain } from '../../src/firewall/dns-access.ts'
import { bucketChain } from '../../src/firewall/nft-portmap.ts'
import { listen, tcpGet } from '../support/bridge.ts'
import { CniRuntime, PluginFailure, type Attachment, type ConfList } from '../support/cni-runtime.ts'
import { answers, dnsNetwork, fakeUpstream, killServersUnder, makeDnsDir, query } from '../support/dns.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, containerIps, gateways, portmapNetwork, portmapRuleCount, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let host: TestNetns
let stateDir: string
let cacheDir: string

beforeEach(() => {
  host = node.host
  const root = mkdtempSync(join(tmpdir(), 'tscni-secfw-'))
  node.defer(() => rmSync(root, { recursive: true, force: true }))
  stateDir = join(root, 'state')
  cacheDir = join(root, 'cache')
  mkdirSync(join(cacheDir, 'results'), { recursive: true })
})

async function tscni(...args: string[]): Promise<{ exitCode: number; stdout: string }> {
  const res = await execa('ip', ['netns', 'exec', host.name, join(node.bin, 'tscni'), ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH } })
  return { exitCode: res.exitCode ?? -1, stdout: `${String(res.stdout)}${String(res.stderr)}` }
}
const doctor = () => tscni('doctor', '--state-dir', stateDir, '--cache-dir', cacheDir, '--data-dir', node.dataDir)
const reconcile = () => tscni('reconcile', '--state-dir', stateDir, '--cache-dir', cacheDir)

function runtime(conf: ConfList): CniRuntime {
  return new CniRuntime(conf, { binDir: node.bin, hostNetns: host.name, env: { TSCNI_STATE_DIR: stateDir } })
}

function attachment(ns: TestNetns, containerId: string, portMappings: unknown[] = []): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { portMappings } }
}

function serve(ns: TestNetns, port: number, reply: string): void {
  node.defer(listen(ns, port, reply).stop)
}

/**
 * What an attacker who is root in `ns` does to send 127.0.0.1 out of `dev` to `via`: drop its own loopback addresses
 * (else the replies, from 127.0.0.1, are martians to it) and allow loopback addresses on `dev`.
 */
async function routeLoopbackVia(ns: TestNetns, dev: string, via: string): Promise<void> {
  await ns.exec('ip', ['addr', 'flush', 'dev', 'lo'])
  await ns.exec('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1', `net.ipv4.conf.${dev}.route_localnet=1`])
  await ns.exec('ip', ['route', 'add', '127.0.0.1/32', 'via', via, 'dev', dev])
}

/** A host service bound to 127.0.0.1 only, in the test's host namespace. */
function loopbackService(port: number, reply: string): void {
  const proc = execa('ip', ['netns', 'exec', host.name, 'socat', `TCP4-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `SYSTEM:echo ${reply}`], { reject: false })
  node.defer(() => void proc.kill('SIGKILL'))
}

/** A LAN neighbour: a namespace on a veth "LAN" 192.0.2.0/24 with the host (192.0.2.1). */
async function lanNeighbour(): Promise<TestNetns> {
  const nb = await node.pool.create('tscni-nb')
  await host.exec('ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nb.name])
  await host.exec('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'lan0'])
  await host.exec('ip', ['link', 'set', 'lan0', 'up'])
  await nb.exec('ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'])
  await nb.exec('ip', ['link', 'set', 'eth0', 'up'])
  return nb
}

const LOOPBACK_DROP = /loopback drop \(packets to 127\.0\.0\.0\/8 not from lo\)/

// The loopback drop removed behind tscni's back (a firewall reload that flushes the raw table, say).
async function removeLoopbackDrop(backend: Backend): Promise<void> {
  if (backend === 'iptables') await host.exec('iptables', ['-t', 'raw', '-F', 'PREROUTING'])
  else await host.exec('nft', ['delete', 'table', 'ip', 'tscni_localnet'])
}

// Only the DNS drop rules of a network removed, its accepts left in place.
async function removeDnsDrops(backend: Backend, network: string, gw: string): Promise<void> {
  if (backend === 'iptables') {
    for (const proto of ['udp', 'tcp']) await host.exec('iptables', ['-D', iptablesDnsChain(network), '-d', `${gw}/32`, '-p', proto, '-m', proto, '--dport', '53', '-j', 'DROP'])
    return
  }
  const listing = String((await host.exec('nft', ['-a', 'list', 'chain', 'inet', 'tscni-dns', `dns-${network}`])).stdout)
  const handles = listing.split('\n').filter((l) => l.includes('tscni-dns-drop')).map((l) => /# handle (\d+)/.exec(l)![1]!)
  expect(handles.length).toBeGreaterThan(0)
  for (const h of handles) await host.exec('nft', ['delete', 'rule', 'inet', 'tscni-dns', `dns-${network}`, 'handle', h])
}

describe.each(BACKENDS)('firewall security with %s', (backend) => {
  it('a pod cannot reach host services bound to 127.0.0.1 once portmap set route_localnet; 127.0.0.1:hostPort still reaches the pod; doctor reports a missing loopback drop, reconcile restores it', async () => {
    const cni = runtime(portmapNetwork(backend, node.dataDir))
    loopbackService(9999, 'host-loopback-only-secret')
    const [web, attacker] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const webAtt = attachment(web, 'secfw-web-1', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }])
    const r = await cni.add(webAtt)
    await cni.add(attachment(attacker, 'secfw-attacker-1'))
    serve(web, 80, 'pod-web')
    expect(String((await host.exec('sysctl', ['-n', 'net.ipv4.conf.cni0.route_localnet'])).stdout).trim()).toBe('1')
    await routeLoopbackVia(attacker, 'eth0', gateways(r).v4)

    expect(await tcpGet(attacker, '127.0.0.1', 9999, 2), 'the pod reaches the host\'s loopback-only service').toBe('')
    // What users rely on: the host's own 127.0.0.1:hostPort, the host address, and hairpin.
    expect(await tcpGet(host, '127.0.0.1', 8080, 10)).toBe('pod-web')
    expect(await tcpGet(host, gateways(r).v4, 8080, 10)).toBe('pod-web')
    expect(await tcpGet(web, gateways(r).v4, 8080, 10)).toBe('pod-web')
    await cni.check(webAtt)

    // Without the drop, the same attack works: that is what the drop stops.
    await removeLoopbackDrop(backend)
    expect(await tcpGet(attacker, '127.0.0.1', 9999, 10)).toBe('host-loopback-only-secret')
    await expect(cni.check(webAtt)).rejects.toThrow(/loopback drop/)
    const doc = await doctor()
    expect(doc.exitCode).toBe(1)
    expect(doc.stdout).toMatch(new RegExp(`FAIL\\s+live rules\\s+.*${LOOPBACK_DROP.source}, needed by portmap tscni/secfw-web-1/eth0 \\(${backend}\\)`))
    const run = await reconcile()
    expect(run.exitCode, run.stdout).toBe(0)
    expect(run.stdout).toMatch(LOOPBACK_DROP)
    await cni.check(webAtt)
    expect(await tcpGet(host, '127.0.0.1', 8080, 10)).toBe('pod-web')
    // The last DEL leaves the drop: route_localnet stays set on the bridge too.
    await cni.del(webAtt)
    expect(await tcpGet(attacker, '127.0.0.1', 9999, 2)).toBe('')
  })

  it.each([true, false])('a hostIP 127.0.0.1 mapping (snat %s) answers the host only: not a LAN neighbour routing 127.0.0.1 via the node, not a pod', async (snat) => {
    const conf = portmapNetwork(backend, node.dataDir)
    const cni = runtime({ ...conf, plugins: conf.plugins.map((p) => (p.type === 'portmap' ? { ...p, snat } : p)) })
    const nb = await lanNeighbour()
    const [db, attacker] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const r = await cni.add(attachment(db, 'secfw-db-1', [{ hostPort: 8081, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }]))
    await cni.add(attachment(attacker, 'secfw-attacker-2'))
    serve(db, 80, 'pod-db')
    await routeLoopbackVia(nb, 'eth0', '192.0.2.1')
    await routeLoopbackVia(attacker, 'eth0', gateways(r).v4)
    // The neighbour does reach the pod's own address through the node (routing works; only 127.0.0.1 must not).
    await nb.exec('ip', ['route', 'add', '10.47.0.0/16', 'via', '192.0.2.1'])
    expect(await tcpGet(nb, containerIps(r).v4, 80, 10)).toBe('pod-db')

    expect(await tcpGet(nb, '127.0.0.1', 8081, 2), 'a LAN neighbour reaches the localhost-only port').toBe('')
    expect(await tcpGet(attacker, '127.0.0.1', 8081, 2), 'a pod reaches the localhost-only port').toBe('')
    // The host's own 127.0.0.1:8081 needs route_localnet and the masquerade mark, which snat brings.
    if (snat) expect(await tcpGet(host, '127.0.0.1', 8081, 10)).toBe('pod-db')
  })

  it('DNS answers its own network only: a pod of another network gets nothing from it; doctor reports a missing DNS drop, reconcile restores it', async () => {
    const d = makeDnsDir()
    node.defer(d.cleanup, () => killServersUnder(d.dir))
    const up = await fakeUpstream(host, d.dir)
    node.defer(() => up.stop())
    const mine = runtime(dnsNetwork(node.dataDir, d.dir, up.resolvConf, { backend }))
    const base = dnsNetwork(node.dataDir, d.dir, up.resolvConf, { backend }, 'secnet2')
    const other = runtime({ ...base, plugins: [{ ...base.plugins[0]!, bridge: 'cni1', ipam: { ...(base.plugins[0]!.ipam as object), ranges: [[{ subnet: '10.48.0.0/16' }]] } }, base.plugins[1]!] })
    const [alpha, beta, gamma] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const pod = (ns: TestNetns, id: string, name: string): Attachment => ({ containerId: id, netns: ns.path, ifname: 'eth0', cniArgs: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', name]] })
    const ra = await mine.add(pod(alpha, 'secfw-alpha-1', 'alpha'))
    await mine.add(pod(beta, 'secfw-beta-1', 'beta'))
    const rg = await other.add(pod(gamma, 'secfw-gamma-1', 'gamma'))
    const gw = gateways(ra).v4
    expect(gateways(rg).v4).toBe('10.48.0.1')
    // The network's own pods resolve each other, and the other network resolves its own names.
    expect(await answers(beta, gw, 'alpha')).toEqual([containerIps(ra).v4])
    expect(await answers(gamma, '10.48.0.1', 'gamma')).toEqual([containerIps(rg).v4])

    // Both at once: a query that gets no answer takes the resolver's whole timeout.
    const [names, recursion] = await Promise.all([query(gamma, gw, 'alpha', 'A'), query(gamma, gw, 'www.example.test', 'A')])
    expect(names, 'a pod of another network gets this network\'s names').toEqual({ code: 'ETIMEOUT' })
    expect(recursion, 'this network\'s server recurses for another network').toEqual({ code: 'ETIMEOUT' })

    await removeDnsDrops(backend, 'tscni', gw)
    expect(await answers(gamma, gw, 'alpha'), 'without the drop the other network is answered').toEqual([containerIps(ra).v4])
    const doc = await doctor()
    expect(doc.exitCode).toBe(1)
    expect(doc.stdout).toMatch(new RegExp(`FAIL\\s+live rules\\s+.*DNS access of network tscni for 2 attachment\\(s\\) \\(${backend}\\)`))
    expect(doc.stdout).not.toMatch(/DNS access of network secnet2/)
    const run = await reconcile()
    expect(run.exitCode, run.stdout).toBe(0)
    expect(run.stdout).toContain(`restored DNS access of network tscni for 2 attachment(s) (${backend})`)
    const [again, own] = await Promise.all([query(gamma, gw, 'alpha', 'A'), answers(beta, gw, 'alpha')])
    expect(again).toEqual({ code: 'ETIMEOUT' })
    expect(own).toEqual([containerIps(ra).v4])
  })

  it('two pods publishing one host port: the first ADD wins until its DEL, whatever the owners\' hashes', async () => {
    const cni = runtime(portmapNetwork(backend, node.dataDir))
    // Owners chosen so that, dispatched by owner hash (nftables before the fix), the second would win.
    const ownerOf = (containerId: string) => ({ network: 'tscni', containerId, ifname: 'eth0' })
    const ids = Array.from({ length: 64 }, (_, i) => `secfw-same-port-${i}`)
    const first = ids.find((id) => bucketChain(ownerOf(id)) > 'hostports-0')!
    const second = ids.find((id) => bucketChain(ownerOf(id)) < bucketChain(ownerOf(first)))!
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const a1 = attachment(c1, first, [{ hostPort: 8090, containerPort: 80, protocol: 'tcp' }])
    const r = await cni.add(a1)
    await cni.add(attachment(c2, second, [{ hostPort: 8090, containerPort: 80, protocol: 'tcp' }]))
    serve(c1, 80, 'pod-first')
    serve(c2, 80, 'pod-second')
    expect(await tcpGet(host, gateways(r).v4, 8090, 10)).toBe('pod-first')
    await cni.del(a1)
    expect(await tcpGet(host, gateways(r).v4, 8090, 10)).toBe('pod-second')
  })

  it('refuses a host port 53 mapping that would shadow DNS (any address, loopback; the gateway in the unit tests) with code 7 and leaves no rule; 53 on a specific host address works', async () => {
    const cni = runtime(portmapNetwork(backend, node.dataDir))
    const c = await node.pool.create('tscni-c')
    const owner = { network: 'tscni', containerId: 'secfw-dns-1', ifname: 'eth0' }
    for (const [mapping, field] of [
      [{ hostPort: 53, containerPort: 5353, protocol: 'udp' }, 'hostIP (unset)'],
      [{ hostPort: 53, containerPort: 5353, protocol: 'tcp', hostIP: '127.0.0.53' }, 'hostIP "127.0.0.53"'],
    ] as const) {
      const err = await cni.add(attachment(c, owner.containerId, [{ hostPort: 8082, containerPort: 80, protocol: 'tcp' }, mapping])).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PluginFailure)
      expect((err as PluginFailure).type).toBe('portmap')
      expect((err as PluginFailure).error).toMatchObject({ code: 7, msg: expect.stringContaining(`runtimeConfig.portMappings[1]: hostPort 53 (${mapping.protocol}) with ${field} would take over DNS`) })
      expect(await portmapRuleCount(host, backend, owner)).toBe(0)
      await cni.del(attachment(c, owner.containerId))
    }
    // A specific host address that is neither loopback nor the gateway cannot shadow the network's DNS.
    await host.exec('ip', ['addr', 'add', '192.0.2.10/32', 'dev', 'lo'])
    await cni.add(attachment(c, owner.containerId, [{ hostPort: 53, containerPort: 5353, protocol: 'udp', hostIP: '192.0.2.10' }]))
    expect(await portmapRuleCount(host, backend, owner)).toBeGreaterThan(0)
  })
})
