// The node agent with IPv6 across three simulated nodes and a real etcd (TLS): dual-stack over vxlan with nftables
// and over host-gw with iptables, and IPv6-only networks over vxlan with ip6tables and over host-gw with nftables. Pods reach the pods of the
// other nodes in every family by their own addresses, and reach the outside masqueraded once to their node's
// address of that family; `node status` and `node clean` cover both families.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { formatIp, parseIp } from '../../src/plugin/addr.ts'
import { tcpGet } from '../support/bridge.ts'
import {
  addIpv6, addPodIps, echoPeer, echoPeer6, etcdArgs, INTERNET_IP, INTERNET_IP6, makeCerts, makeNode, makeSegment, nodeArgs, nodeCommand, PREFIX,
  readNodeState, removeNodeDir, startAgent, startEtcd, taggedRoutes, taggedRoutes6, waitUntil, type SimNode,
} from '../support/cluster.ts'
import { NetnsPool } from '../support/netns.ts'

const pool = new NetnsPool()
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => undefined)
  await pool.cleanup()
})

type Backend = 'host-gw' | 'vxlan'
type Firewall = 'iptables' | 'nftables'
const DUAL = { Network: '10.77.0.0/16', SubnetLen: 24, EnableIPv6: true, IPv6Network: 'fd77::/48', IPv6SubnetLen: 64 }
const V6ONLY = { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd77::/48', IPv6SubnetLen: 64 }

/** The address socat reports ("[0000:...:0001]" for IPv6) in canonical text. */
const canon = (text: string) => (text.startsWith('[') ? formatIp(parseIp(text.slice(1, -1))!) : text)
const get = async (from: { ns: SimNode['ns'] }, to: string) => canon(await tcpGet(from.ns, to, 8080))

/** Three nodes with IPv4 and IPv6 on their uplinks, agents started, converged on two peers in each family used. */
async function cluster(backend: Backend, firewall: Firewall, network: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-cluster6-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const { segment, internet } = await makeSegment(pool)
  await addIpv6(internet, '100')
  const certs = await makeCerts(dir)
  const etcd = await startEtcd(segment, dir, certs)
  cleanups.push(() => etcd.stop())
  const nodes: Array<SimNode & { ip6: string }> = []
  for (let n = 1; n <= 3; n++) {
    const node = await makeNode(pool, segment, n)
    cleanups.push(() => removeNodeDir(node))
    nodes.push(Object.assign(node, { ip6: await addIpv6(node.ns, String(10 + n)) }))
  }
  const config = JSON.stringify({ ...network, Backend: { Type: backend } })
  for (const node of nodes) {
    const agent = startAgent(node, [...etcdArgs(etcd, certs), ...nodeArgs(node, ['--ttl', '5', '--resync', '2', '--firewall', firewall, '--init-config', config])])
    cleanups.push(() => agent.stop())
  }
  const logs = () => nodes.map((n, i) => `--- node ${i + 1} ---\n${n.agent?.log() ?? ''}`).join('\n')
  const v4 = network.EnableIPv4 !== false
  for (const node of nodes) {
    await waitUntil(`${node.ip} to program 2 peers in each family`, 20_000, async () => readNodeState(node)?.peers.length === 2
      && (await taggedRoutes(node.ns)).length === (v4 ? 2 : 0) && (await taggedRoutes6(node.ns)).length === 2, logs)
  }
  return { etcd, certs, internet, nodes, logs }
}

/** One pod per node; each pod reaches the others in every family with its own source, and the outside masqueraded. */
async function podsTalk(c: Awaited<ReturnType<typeof cluster>>, families: Array<4 | 6>) {
  const pods = []
  for (const [i, node] of c.nodes.entries()) {
    const pod = await addPodIps(pool, node, `pod-${i + 1}`)
    cleanups.push(echoPeer(pod.ns).stop, echoPeer6(pod.ns).stop)
    pods.push(pod)
  }
  cleanups.push(echoPeer(c.internet).stop, echoPeer6(c.internet).stop)
  const ipOf = (pod: { ips: string[] }, f: 4 | 6) => pod.ips.find((ip) => ip.includes(':') === (f === 6))!
  for (const pod of pods) expect(pod.ips.map((ip) => (ip.includes(':') ? 6 : 4)).sort()).toEqual([...families].sort())
  for (const f of families) {
    for (const [a, b] of [[0, 1], [1, 2], [2, 0]] as const) {
      expect(await get(pods[a]!, ipOf(pods[b]!, f)), `IPv${f} pod ${a + 1} -> pod ${b + 1}\n${c.logs()}`).toBe(ipOf(pods[a]!, f))
    }
    for (const [i, pod] of pods.entries()) {
      const node = c.nodes[i]!
      expect(await get(pod, f === 4 ? INTERNET_IP : INTERNET_IP6), `IPv${f} pod ${i + 1} -> outside`).toBe(f === 4 ? node.ip : node.ip6)
    }
  }
  return pods
}

/** Nothing of the agent's left on the node in either family. */
async function leavesNothing(node: SimNode): Promise<void> {
  expect(await taggedRoutes(node.ns)).toEqual([])
  expect(await taggedRoutes6(node.ns)).toEqual([])
  const links = await node.ns.ipJson<Array<{ ifname: string }>>(['link', 'show'])
  expect(links.map((l) => l.ifname)).not.toContain('tscni.1')
  for (const cmd of ['iptables-save', 'ip6tables-save']) expect(String((await node.ns.exec(cmd, [])).stdout), cmd).not.toMatch(/TSCNI-POSTRTG|TSCNI-FWD/)
  expect(String((await node.ns.exec('nft', ['list', 'tables'])).stdout)).not.toContain('tscni-node')
}

describe('node agent, dual-stack and IPv6-only, three nodes over etcd', () => {
  it.each([['vxlan', 'nftables'], ['host-gw', 'iptables']] as const)('dual-stack over %s with %s: pods talk in both families', { timeout: 90_000 }, async (backend, firewall) => {
    const c = await cluster(backend, firewall, DUAL)
    const [n1, n2, n3] = c.nodes as [SimNode & { ip6: string }, SimNode & { ip6: string }, SimNode & { ip6: string }]
    const state = readNodeState(n1)
    expect(state).toMatchObject({ network: '10.77.0.0/16', network6: 'fd77::/48', publicIpv6: n1.ip6 })
    expect(state.subnet6).toMatch(/^fd77:0:0:\d+::\/64$/)
    // Each node's lease key names both subnets, flannel's dual-stack form, with its PublicIPv6 in the value.
    const keys = (await c.etcd.ctl(['get', '--prefix', '--keys-only', `${PREFIX}/subnets/`])).split('\n').filter(Boolean).sort()
    expect(keys).toHaveLength(3)
    for (const k of keys) expect(k).toMatch(/\/subnets\/10\.77\.(\d+)\.0-24&fd77:0:0:\1::-64$/)
    const routes6 = (await taggedRoutes6(n1.ns)).join('\n')
    if (backend === 'host-gw') {
      expect(routes6).toContain(`via ${n2.ip6} dev eth0`)
      expect(routes6).toContain(`via ${n3.ip6} dev eth0`)
    } else {
      expect(routes6).toMatch(/fd77:0:0:\d+::\/64 via fd77:0:0:\d+:: dev tscni\.1/)
      const addrs = await n1.ns.ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>>(['addr', 'show', 'dev', 'tscni.1'])
      expect(addrs[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(`${state.subnet6.split('/')[0]}/128`)
    }
    const pods = await podsTalk(c, [4, 6])
    const status = await nodeCommand(n1, ['status', '--state-dir', n1.stateDir, '--json'])
    const report = JSON.parse(String(status.stdout))
    expect(status.exitCode, String(status.stderr)).toBe(0)
    expect(report.peers.map((p: any) => p.publicIpv6).sort()).toEqual([n2.ip6, n3.ip6].sort())
    expect(report.peers.every((p: any) => p.installed)).toBe(true)
    expect(report.peers.every((p: any) => /^fd77:0:0:\d+::\/64$/.test(p.subnet6))).toBe(true)

    // A node leaves: its agent stopped and `node clean` run; the others drop its routes of both families.
    expect(await n3.agent!.stop()).toBe(0)
    const clean = await nodeCommand(n3, ['clean', ...etcdArgs(c.etcd, c.certs), ...nodeArgs(n3)])
    expect(clean.exitCode, String(clean.stderr)).toBe(0)
    await leavesNothing(n3)
    await waitUntil('node 1 to drop node 3 in both families', 10_000, async () => (await taggedRoutes(n1.ns)).length === 1 && (await taggedRoutes6(n1.ns)).length === 1, c.logs)
    expect(await get(pods[0]!, pods[1]!.ips.find((ip) => ip.includes(':'))!)).toBe(pods[0]!.ips.find((ip) => ip.includes(':')))
  })

  it.each([['vxlan', 'iptables'], ['host-gw', 'nftables']] as const)('IPv6-only over %s with %s: pods have IPv6 only and talk across nodes', { timeout: 90_000 }, async (backend, firewall) => {
    const c = await cluster(backend, firewall, V6ONLY)
    const n1 = c.nodes[0]!
    expect(readNodeState(n1)).toMatchObject({ network: 'fd77::/48', publicIp: n1.ip })
    expect(readNodeState(n1).subnet).toMatch(/^fd77:0:0:\d+::\/64$/)
    const keys = (await c.etcd.ctl(['get', '--prefix', '--keys-only', `${PREFIX}/subnets/`])).split('\n').filter(Boolean)
    for (const k of keys) expect(k).toMatch(/\/subnets\/fd77:0:0:\d+::-64$/)
    expect(await taggedRoutes(n1.ns)).toEqual([])
    await podsTalk(c, [6])
    if (firewall === 'iptables') {
      const saved = String((await n1.ns.exec('ip6tables-save', ['-t', 'nat'])).stdout)
      expect(saved).toMatch(/-A TSCNI-POSTRTG -s fd77:0:0:\d+::\/64 -d fd77::\/48 .*-j RETURN/)
    } else {
      expect(String((await n1.ns.exec('nft', ['list', 'table', 'ip6', 'tscni-node'])).stdout)).toMatch(/ip6 saddr fd77:0:0:\d+::\/64 ip6 daddr fd77::\/48 return/)
    }
    expect(await n1.agent!.stop()).toBe(0)
    const clean = await nodeCommand(n1, ['clean', ...nodeArgs(n1)])
    expect(clean.exitCode, String(clean.stderr)).toBe(0)
    await leavesNothing(n1)
  })
})
