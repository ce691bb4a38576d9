// The node agent across three simulated nodes with a real etcd (TLS, client certificates): pods reach pods on the
// other nodes by their own addresses, pod-to-outside is masqueraded, stale tagged routes and bogus leases never
// survive, a restarted agent keeps its subnet, etcd restarted under the agents is survived, a departed node's
// routes disappear within the TTL, and `node clean` leaves nothing. Full runs for host-gw with iptables and vxlan
// with nftables; the other two pairs as a smoke test.
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tcpGet } from '../support/bridge.ts'
import {
  addPod, echoPeer, etcdArgs, INTERNET_IP, makeCerts, makeNode, makeSegment, nodeArgs, nodeCommand, PREFIX, readNodeState, removeNodeDir,
  startAgent, startEtcd, taggedRoutes, waitUntil, type SimNode,
} from '../support/cluster.ts'
import { NetnsPool } from '../support/netns.ts'

const TTL = 5
const pool = new NetnsPool()
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => undefined)
  await pool.cleanup()
})

async function cluster(backend: 'host-gw' | 'vxlan', firewall: 'iptables' | 'nftables', count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-cluster-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const { segment, internet } = await makeSegment(pool)
  const certs = await makeCerts(dir)
  const etcd = await startEtcd(segment, dir, certs)
  cleanups.push(() => etcd.stop())
  const nodes: SimNode[] = []
  for (let n = 1; n <= count; n++) {
    const node = await makeNode(pool, segment, n)
    cleanups.push(() => removeNodeDir(node))
    nodes.push(node)
  }
  const config = JSON.stringify({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: backend } })
  const args = (node: SimNode) => [...etcdArgs(etcd, certs), ...nodeArgs(node, ['--ttl', String(TTL), '--resync', '2', '--firewall', firewall, '--init-config', config])]
  const start = (node: SimNode) => {
    const agent = startAgent(node, args(node))
    cleanups.push(() => agent.stop())
    return agent
  }
  const logs = () => nodes.map((n, i) => `--- node ${i + 1} ---\n${n.agent?.log() ?? ''}`).join('\n')
  return { segment, internet, certs, etcd, nodes, start, logs, args }
}

/** Waits until every node's state lists `peers` peers and the routes are in its kernel. */
async function converged(nodes: readonly SimNode[], peers: number, logs: () => string): Promise<void> {
  for (const node of nodes) {
    await waitUntil(`${node.ip} to program ${peers} peer(s)`, 20_000, async () => readNodeState(node)?.peers.length === peers && (await taggedRoutes(node.ns)).length === peers, logs)
  }
}

async function fullRun(backend: 'host-gw' | 'vxlan', firewall: 'iptables' | 'nftables'): Promise<void> {
  const c = await cluster(backend, firewall, 3)
  const [n1, n2, n3] = c.nodes as [SimNode, SimNode, SimNode]
  // Left over from an earlier run: a tagged route of a node long gone. And a lease no node should trust.
  await n3.ns.exec('ip', ['route', 'add', '10.77.99.0/24', 'via', '192.168.77.99', 'dev', 'eth0', 'proto', '77'])
  await c.etcd.ctl(['put', `${PREFIX}/subnets/10.99.0.0-24`, JSON.stringify({ PublicIP: '192.168.77.66', BackendType: backend, BackendData: { VNI: 1, VtepMAC: '0e:2a:c0:a8:4d:42' } })])
  await c.etcd.ctl(['put', `${PREFIX}/subnets/10.77.200.0-24`, JSON.stringify({ PublicIP: 'not-an-ip', BackendType: backend })])

  for (const node of c.nodes) c.start(node)
  await converged(c.nodes, 2, c.logs)
  const subnets = c.nodes.map((n) => readNodeState(n).subnet as string)
  expect(new Set(subnets).size).toBe(3)
  for (const s of subnets) expect(s).toMatch(/^10\.77\.\d+\.0\/24$/)
  expect((await taggedRoutes(n3.ns)).join('\n'), 'the stale tagged route is gone').not.toContain('10.77.99.0')
  for (const node of c.nodes) {
    const routes = (await taggedRoutes(node.ns)).join('\n')
    expect(routes).not.toMatch(/10\.99\.0\.0|10\.77\.200\.0/)
  }
  expect(n1.agent!.log()).toMatch(/ignoring lease ".*10\.99\.0\.0-24": 10\.99\.0\.0\/24 is not a \/24 node subnet/)
  expect(n1.agent!.log()).toMatch(/ignoring lease ".*10\.77\.200\.0-24": PublicIP "not-an-ip"/)

  const pods = [await addPod(pool, n1, 'pod-1'), await addPod(pool, n2, 'pod-2'), await addPod(pool, n3, 'pod-3')]
  for (const p of pods) cleanups.push(echoPeer(p.ns).stop)
  const [p1, p2, p3] = pods as [typeof pods[0], typeof pods[0], typeof pods[0]]
  expect(p1.ip.startsWith(subnets[0]!.split('.').slice(0, 3).join('.'))).toBe(true)
  // The receiver sees the sender's pod address: no masquerade between pods.
  expect(await tcpGet(p1.ns, p2.ip, 8080), `pod 1 -> pod 2\n${c.logs()}`).toBe(p1.ip)
  expect(await tcpGet(p1.ns, p3.ip, 8080), 'pod 1 -> pod 3').toBe(p1.ip)
  expect(await tcpGet(p3.ns, p2.ip, 8080), 'pod 3 -> pod 2').toBe(p3.ip)
  // Outside the cluster: masqueraded once, to the node's own address.
  const outside = echoPeer(c.internet)
  cleanups.push(outside.stop)
  expect(await tcpGet(p1.ns, INTERNET_IP, 8080), 'pod 1 -> internet').toBe(n1.ip)
  expect(await tcpGet(p2.ns, INTERNET_IP, 8080), 'pod 2 -> internet').toBe(n2.ip)

  if (backend === 'vxlan') {
    const link = (await n1.ns.ipJson<any[]>(['-d', 'link', 'show', 'tscni.1']))[0]
    expect(link.mtu).toBe(1450)
    expect(link.address).toBe('0e:2a:c0:a8:4d:0b')
    expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, learning: false, local: n1.ip })
  }
  const status = await nodeCommand(n1, ['status', '--state-dir', n1.stateDir, '--json'])
  expect(status.exitCode, String(status.stderr)).toBe(0)
  const report = JSON.parse(String(status.stdout))
  expect(report).toMatchObject({ subnet: subnets[0], publicIp: n1.ip, backend, firewall })
  // Peers are listed in subnet order; which node got which subnet depends on who leased first.
  const expected = [[subnets[1], n2.ip, true], [subnets[2], n3.ip, true]].sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true }))
  expect(report.peers.map((p: any) => [p.subnet, p.publicIp, p.installed])).toEqual(expected)

  // etcd restarted under the agents: traffic never depended on it, and membership changes flow again afterwards.
  await c.etcd.stop()
  expect(await tcpGet(p1.ns, p2.ip, 8080), 'pod 1 -> pod 2 while etcd is down').toBe(p1.ip)
  await c.etcd.start()

  // A restarted agent keeps its subnet, and its pods keep talking (also while it is down).
  expect(await n2.agent!.stop()).toBe(0)
  expect(await tcpGet(p1.ns, p2.ip, 8080), 'pod 1 -> pod 2 while agent 2 is stopped').toBe(p1.ip)
  c.start(n2)
  await converged(c.nodes, 2, c.logs)
  expect(readNodeState(n2).subnet).toBe(subnets[1])
  expect(await tcpGet(p1.ns, p2.ip, 8080), 'pod 1 -> pod 2 after the restart').toBe(p1.ip)

  // A node leaves: agent stopped, then `node clean` revokes its lease; the others drop its routes within the TTL.
  expect(await n3.agent!.stop()).toBe(0)
  const clean = await nodeCommand(n3, ['clean', ...etcdArgs(c.etcd, c.certs), ...nodeArgs(n3)])
  expect(clean.exitCode, String(clean.stderr)).toBe(0)
  const left = Date.now()
  await converged([n1, n2], 1, c.logs)
  expect(Date.now() - left).toBeLessThan(TTL * 1000)
  expect((await taggedRoutes(n1.ns)).join('\n')).not.toContain(subnets[2])
  expect(await c.etcd.ctl(['get', '--prefix', '--keys-only', `${PREFIX}/subnets/${subnets[2]!.replace('/', '-')}`])).toBe('')
  await leavesNothing(n3, backend)

  // The lease of a node whose agent stopped for good expires, and the others drop it within the TTL (plus etcd's
  // expiry check and the watch).
  expect(await n2.agent!.stop()).toBe(0)
  await converged([n1], 0, c.logs)
}

/** Nothing of the agent's left on the node: no tagged route, VXLAN device, chains, table, CNI config or state. */
async function leavesNothing(node: SimNode, backend: string): Promise<void> {
  expect(await taggedRoutes(node.ns)).toEqual([])
  const links = await node.ns.ipJson<Array<{ ifname: string }>>(['link', 'show'])
  expect(links.map((l) => l.ifname)).not.toContain('tscni.1')
  const saved = String((await node.ns.exec('iptables-save', [])).stdout)
  expect(saved).not.toMatch(/TSCNI-POSTRTG|TSCNI-FWD/)
  const nft = String((await node.ns.exec('nft', ['list', 'tables'])).stdout)
  expect(nft).not.toContain('tscni-node')
  expect(existsSync(join(node.confDir, '10-tscni-cluster.conflist'))).toBe(false)
  expect(existsSync(join(node.stateDir, 'state.json'))).toBe(false)
  expect(backend).toMatch(/host-gw|vxlan/)
}

describe('node agent with etcd over TLS, three nodes', () => {
  it('host-gw with iptables: pod to pod keeps its source, outside is masqueraded, restarts and departures', { timeout: 180_000 }, async () => {
    await fullRun('host-gw', 'iptables')
  })

  it('vxlan with nftables: the same over a VXLAN device', { timeout: 180_000 }, async () => {
    await fullRun('vxlan', 'nftables')
  })

  it.each([['host-gw', 'nftables'], ['vxlan', 'iptables']] as const)('smoke: %s with %s, two nodes', { timeout: 90_000 }, async (backend, firewall) => {
    const c = await cluster(backend, firewall, 2)
    for (const node of c.nodes) c.start(node)
    await converged(c.nodes, 1, c.logs)
    const [p1, p2] = [await addPod(pool, c.nodes[0]!, 'pod-1'), await addPod(pool, c.nodes[1]!, 'pod-2')]
    cleanups.push(echoPeer(p2.ns).stop, echoPeer(c.internet).stop)
    expect(await tcpGet(p1.ns, p2.ip, 8080), c.logs()).toBe(p1.ip)
    expect(await tcpGet(p1.ns, INTERNET_IP, 8080)).toBe(c.nodes[0]!.ip)
    if (backend === 'vxlan') {
      // Keepalives hold the leases: two TTLs later both nodes still see each other.
      await new Promise((r) => setTimeout(r, 2 * TTL * 1000))
      for (const node of c.nodes) expect(await taggedRoutes(node.ns), c.logs()).toHaveLength(1)
      expect(c.logs()).not.toMatch(/expired or was revoked/)
    }
  })
})


describe('static mode (--peers FILE, no etcd)', () => {
  it('applies the declared cluster, is idempotent, skips bad nodes, and node clean leaves nothing', { timeout: 90_000 }, async () => {
    const { segment } = await makeSegment(pool)
    const nodes = [await makeNode(pool, segment, 1), await makeNode(pool, segment, 2)]
    for (const n of nodes) cleanups.push(() => removeNodeDir(n))
    const file = join(nodes[0]!.dir, 'cluster.json')
    writeFileSync(file, JSON.stringify({
      Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' },
      Nodes: [{ Subnet: '10.77.1.0/24', PublicIP: nodes[0]!.ip }, { Subnet: '10.77.2.0/24', PublicIP: nodes[1]!.ip }, { Subnet: '10.78.0.0/24', PublicIP: '192.168.77.99' }],
    }))
    for (const n of nodes) {
      const res = await nodeCommand(n, ['run', '--peers', file, ...nodeArgs(n)])
      expect(res.exitCode, String(res.stderr)).toBe(0)
      expect(String(res.stderr)).toMatch(/ignoring lease "nodes\/10\.78\.0\.0-24"/)
    }
    expect(await taggedRoutes(nodes[0]!.ns)).toEqual([`10.77.2.0/24 via ${nodes[1]!.ip} dev eth0`])
    const [p1, p2] = [await addPod(pool, nodes[0]!, 'pod-1'), await addPod(pool, nodes[1]!, 'pod-2')]
    expect(p1.ip).toBe('10.77.1.2')
    cleanups.push(echoPeer(p2.ns).stop)
    expect(await tcpGet(p1.ns, p2.ip, 8080)).toBe(p1.ip)
    // Again: nothing to change, so no "changes" line.
    const again = await nodeCommand(nodes[0]!, ['run', '--peers', file, ...nodeArgs(nodes[0]!)])
    expect(again.exitCode).toBe(0)
    expect(String(again.stderr)).not.toMatch(/changes/)
    const clean = await nodeCommand(nodes[0]!, ['clean', ...nodeArgs(nodes[0]!)])
    expect(clean.exitCode, String(clean.stderr)).toBe(0)
    await leavesNothing(nodes[0]!, 'host-gw')
  })
})
