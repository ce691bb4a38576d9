// The cluster demo (`npm run demo:cluster`): three simulated nodes joined by `tscni node run` through a private
// etcd (TLS), a pod with an HTTP service on each, a round-robin nginx on node 1 spanning all three by pod address,
// then node 3 leaves and the balancer fails over to the pods that remain; finally everything is removed.
// Run as root; traffic stays between the namespaces this script creates.
import { execa, type ResultPromise } from 'execa'
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  addPod, describeReadiness, etcdArgs, makeCerts, makeNode, makeSegment, nodeArgs, nodeCommand, readNodeState, removeNodeDir, startAgent, startEtcd,
  taggedRoutes, waitUntil, type Agent, type Etcd, type SimNode,
} from '../test/support/cluster.ts'
import { NetnsPool, type TestNetns } from '../test/support/netns.ts'
import { renderTable as table } from '../src/cli/table.ts'
import { nginxConfig } from './nginx.ts'
import { detail, step, StepFailed } from './steps.ts'

const BACKEND = process.env.DEMO_BACKEND === 'host-gw' ? 'host-gw' : 'vxlan'
const POD_PORT = 8080
const LB_PORT = 8000

interface Pod { readonly name: string; readonly node: SimNode; readonly ns: TestNetns; readonly ip: string; server: ResultPromise }

async function main(): Promise<0 | 1> {
  const pool = new NetnsPool()
  const work = mkdtempSync(join(tmpdir(), 'tscni-cluster-demo-'))
  const bin = join(work, 'bin')
  // The pods' attachment records go to the demo's own state dir (removed with it), never the machine's.
  process.env.TSCNI_STATE_DIR = join(work, 'state')
  const nodes: SimNode[] = []
  const agents: Agent[] = []
  const pods: Pod[] = []
  let etcd: Etcd | undefined
  let nginx: ResultPromise | undefined
  let failed = false
  try {
    await step('prepare: executable and role links', async () => {
      if (process.getuid?.() !== 0) throw new Error('the demo needs root: it creates network namespaces, routes, VXLAN devices and firewall rules')
      await execa('mkdir', ['-p', bin])
      copyFileSync(resolve('dist/tscni'), join(bin, 'tscni'))
      // The test helpers run the bridge through its standard name; the generated config names tscni-host-local.
      for (const name of ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'bridge']) symlinkSync('tscni', join(bin, name))
    })
    const { segment, certs } = await step('a shared segment (a bridge in its own namespace) and etcd on it, TLS with certificates made by openssl', async () => {
      const seg = await makeSegment(pool)
      const made = await makeCerts(work)
      etcd = await startEtcd(seg.segment, work, made)
      detail(`etcd at ${etcd.endpoint}, client certificates required`)
      return { segment: seg.segment, certs: made }
    })
    await step(`three nodes join with tscni node run (${BACKEND})`, async () => {
      const config = JSON.stringify({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: BACKEND } })
      for (let n = 1; n <= 3; n++) {
        const node = await makeNode(pool, segment, n)
        nodes.push(node)
        agents.push(startAgent(node, [...etcdArgs(etcd!, certs),
          ...nodeArgs(node, ['--ttl', '10', '--resync', '5', '--init-config', config])], bin))
      }
      await waitForPeers(nodes, 2, 20_000)
      const rows = nodes.map((n) => {
        const s = readNodeState(n)
        return [n.ns.name, n.ip, s.subnet, String(s.mtu), s.peers.map((p: { subnet: string; route: string }) => `${p.subnet} ${p.route}`).join('; ')]
      })
      detail(table(['node', 'address', 'subnet', 'pod MTU', 'routes to the others'], rows))
    })
    await step('a pod with an HTTP service on every node (CNI ADD with the config the agent wrote)', async () => {
      for (const [i, node] of nodes.entries()) {
        const p = await addPod(pool, node, `demo-pod-${i + 1}`, bin)
        const server = execa('ip', ['netns', 'exec', p.ns.name, process.execPath, resolve('demo/pod-server.mjs'), String(POD_PORT), `pod-${i + 1}@node-${i + 1}`], { reject: false })
        pods.push({ name: `pod-${i + 1}`, node, ns: p.ns, ip: p.ip, server })
        await waitUntil(`pod-${i + 1}'s service`, 10_000, async () => (await p.ns.exec('curl', ['-s', '--max-time', '1', `http://127.0.0.1:${POD_PORT}/`], { reject: false })).exitCode === 0)
      }
      detail(table(['pod', 'node', 'address'], pods.map((p) => [p.name, p.node.ip, p.ip])))
    })
    const host = nodes[0]!.ns
    nginx = (await step(`nginx on node 1: round robin over the three pods by pod address, on 127.0.0.1:${LB_PORT}`, async () => {
      const conf = join(work, 'nginx.conf')
      writeFileSync(conf, nginxConfig(work, pods.map((p) => `${p.ip}:${POD_PORT}`), `127.0.0.1:${LB_PORT}`))
      const proc = execa('ip', ['netns', 'exec', host.name, 'nginx', '-c', conf, '-p', work], { reject: false })
      await waitUntil('nginx', 10_000, async () => (await host.exec('curl', ['-s', '--max-time', '1', `http://127.0.0.1:${LB_PORT}/`], { reject: false })).exitCode === 0)
      return { proc }
    })).proc
    await step('ask the balancer six times: every pod answers, across nodes', async () => {
      const answers = await ask(host, 6)
      answers.forEach((a, i) => detail(`request ${i + 1}: ${a}`))
      for (const p of pods) if (!answers.some((a) => a.includes(`${p.name}@`))) throw new Error(`${p.name} never answered`)
    })
    await step('node 3 leaves: its agent stops and tscni node clean revokes its lease; the others drop its route', async () => {
      const [n1, n2, n3] = nodes as [SimNode, SimNode, SimNode]
      pods[2]!.server.kill()
      await agents[2]!.stop()
      const res = await nodeCommand(n3, ['clean', ...etcdArgs(etcd!, certs), ...nodeArgs(n3)], bin)
      if (res.exitCode !== 0) throw new Error(`node clean failed: ${String(res.stderr)}`)
      await execa('ip', ['netns', 'del', n3.ns.name])
      await waitForPeers([n1, n2], 1, 10_000)
      detail(`node 1 routes now: ${(await taggedRoutes(n1.ns)).join('; ')}`)
    })
    await step('ask the balancer again: it fails over to the pods on nodes 1 and 2', async () => {
      const answers = await ask(host, 6)
      answers.forEach((a, i) => detail(`request ${i + 1}: ${a}`))
      if (answers.some((a) => a.includes('pod-3@'))) throw new Error('pod 3 still answered')
      for (const p of pods.slice(0, 2)) if (!answers.some((a) => a.includes(`${p.name}@`))) throw new Error(`${p.name} never answered`)
    })
  } catch (err) {
    failed = true
    if (!(err instanceof StepFailed)) process.stdout.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  } finally {
    await step('tear down: stop agents, etcd and services, tscni node clean on every node, remove the namespaces', async () => {
      nginx?.kill()
      for (const p of pods) p.server.kill()
      for (const a of agents) await a.stop()
      for (const node of nodes.slice(0, 2)) await nodeCommand(node, ['clean', ...nodeArgs(node)], bin)
      await etcd?.stop()
      for (const node of nodes) removeNodeDir(node)
      await pool.cleanup()
      rmSync(work, { recursive: true, force: true })
      const left = (await execa('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => /^tscni-(seg|inet|n\d|pod)-/.test(l))
      if (left.length > 0) throw new Error(`namespaces left: ${left.join(', ')}`)
    }).catch(() => {
      failed = true
    })
  }
  process.stdout.write(failed ? '\ncluster demo FAILED (see the step above)\n' : '\ncluster demo finished: every step passed and nothing was left behind\n')
  return failed ? 1 : 0
}

/** Waits until every node lists `peers` peers with their routes in its kernel; on timeout, says what each still lacks. */
async function waitForPeers(nodes: readonly SimNode[], peers: number, ms: number): Promise<void> {
  const ready = async (n: SimNode) => readNodeState(n)?.peers.length === peers && (await taggedRoutes(n.ns)).length === peers
  const end = Date.now() + ms
  for (;;) {
    const waiting = []
    for (const n of nodes) if (!(await ready(n))) waiting.push(n)
    if (waiting.length === 0) return
    if (Date.now() > end) {
      const lacks = await Promise.all(nodes.map((n) => describeReadiness(n, peers)))
      throw new Error(`timed out after ${ms} ms waiting for ${waiting.map((n) => n.ip).join(', ')} to program ${peers} peer(s); each node now:\n${lacks.join('\n')}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function ask(from: TestNetns, times: number): Promise<string[]> {
  const answers: string[] = []
  for (let i = 0; i < times; i++) {
    const res = await from.exec('curl', ['-s', '--max-time', '3', `http://127.0.0.1:${LB_PORT}/`], { reject: false })
    if (res.exitCode !== 0) throw new Error(`request ${i + 1} failed (curl exit ${res.exitCode})`)
    answers.push(String(res.stdout).trim())
  }
  return answers
}

process.exitCode = await main()
