// Health for supervisors, on two simulated nodes with a real etcd: the agent's /readyz turns ready only once its
// conflist exists and its route to the other node is programmed; /healthz stays up through an etcd outage and says
// etcd is unreachable; an agent restarted while etcd is down is not ready — /readyz, `tscni node status` and the
// bridge's STATUS (code 50, through the readiness file its conflist names) all say so — until etcd is back.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { bridge } from '../support/bridge.ts'
import {
  etcdArgs, makeCerts, makeNode, makeSegment, nodeArgs, nodeCommand, readNodeState, removeNodeDir, startAgent, startEtcd, taggedRoutes, waitUntil, type SimNode,
} from '../support/cluster.ts'
import { NetnsPool } from '../support/netns.ts'
import { binDir } from '../support/run-plugin.ts'

const TTL = 5
const HEALTH = '127.0.0.1:9099'
const pool = new NetnsPool()
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => undefined)
  await pool.cleanup()
})

/** GET a health endpoint inside the node's namespace: HTTP status (0 when nothing listens) and JSON body. */
async function probe(node: SimNode, path: string): Promise<{ code: number; body: any }> {
  const r = await node.ns.exec('curl', ['-s', '--max-time', '2', '-w', '\n%{http_code}', `http://${HEALTH}${path}`], { reject: false })
  const lines = String(r.stdout).split('\n')
  const code = Number(lines.pop())
  let body: any
  try {
    body = JSON.parse(lines.join('\n'))
  } catch {
    body = undefined
  }
  return { code, body }
}

/** The agent process of a node (its command line names the node's state dir), for its RSS and CPU time. */
function agentPid(node: SimNode): number {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (cmd.includes('run') && cmd.includes(node.stateDir) && cmd[0]!.endsWith('tscni')) return Number(pid)
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no agent process for ${node.stateDir}`)
}

function usage(pid: number): { rssKiB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return { rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)![1]), cpuTicks: Number(stat[11]) + Number(stat[12]) }
}

it('readyz after conflist and routes; healthz through an etcd outage; not ready (readyz, node status, STATUS 50) until etcd is back', { timeout: 110_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-health-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const { segment } = await makeSegment(pool)
  const certs = await makeCerts(dir)
  const etcd = await startEtcd(segment, dir, certs)
  cleanups.push(() => etcd.stop())
  const [n1, n2] = [await makeNode(pool, segment, 1), await makeNode(pool, segment, 2)]
  for (const n of [n1, n2]) cleanups.push(() => removeNodeDir(n))
  const config = JSON.stringify({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' } })
  const args = (n: SimNode, extra: string[] = []) => [...etcdArgs(etcd, certs), ...nodeArgs(n, ['--ttl', String(TTL), '--resync', '2', '--init-config', config, ...extra])]
  const start = (n: SimNode, extra: string[] = []) => {
    const agent = startAgent(n, args(n, extra))
    cleanups.push(() => agent.stop())
    return agent
  }
  const logs = () => [n1, n2].map((n, i) => `--- node ${i + 1} ---\n${n.agent?.log() ?? ''}`).join('\n')
  const conflist = (n: SimNode) => join(n.confDir, '10-tscni-cluster.conflist')

  start(n2)
  const peerSubnet = await waitUntil('node 2 to lease a subnet', 20_000, () => readNodeState(n2)?.subnet as string | undefined, logs)

  // Node 1 with health endpoints: poll /readyz from its start; the first 200 must find conflist and route in place.
  start(n1, ['--health-addr', HEALTH])
  const notReadyBodies: any[] = []
  const whenReady = await waitUntil('node 1 /readyz to answer 200', 30_000, async () => {
    const r = await probe(n1, '/readyz')
    if (r.code === 503) notReadyBodies.push(r.body)
    if (r.code !== 200) return undefined
    return { body: r.body, conflist: existsSync(conflist(n1)), routes: await taggedRoutes(n1.ns) }
  }, logs)
  expect(whenReady.conflist, 'the conflist exists when /readyz first says ready').toBe(true)
  expect(whenReady.routes.join('\n'), 'the route to node 2 is programmed when /readyz first says ready').toContain(`${peerSubnet} via ${n2.ip} dev eth0`)
  expect(whenReady.body).toMatchObject({ status: 'ready', subnet: readNodeState(n1).subnet, problems: [] })
  expect(notReadyBodies.length, 'the agent answered "not ready" before it was ready').toBeGreaterThan(0)
  expect(notReadyBodies[0]).toMatchObject({ status: 'not ready' })

  // The conflist names the readiness file; the bridge's STATUS with it answers ready now.
  const list = JSON.parse(readFileSync(conflist(n1), 'utf8'))
  const bridgeConf = { ...list.plugins[0], name: list.name, cniVersion: '1.1.0' }
  expect(bridgeConf.readinessFile).toBe(join(n1.stateDir, 'ready'))
  const call = { host: n1.ns, bin: binDir(), containerId: 'status', netns: '' }
  const ok = await bridge('STATUS', call, bridgeConf)
  expect(ok.exitCode, ok.stdout).toBe(0)
  const status = await nodeCommand(n1, ['status', '--state-dir', n1.stateDir, '--json'])
  expect(status.exitCode, String(status.stdout)).toBe(0)
  expect(JSON.parse(String(status.stdout))).toMatchObject({ ready: true, notReady: [] })

  // What the agent costs at rest (deploy/README.md, "Resources"): resident memory and CPU over 10 s of resyncs.
  const pid = agentPid(n1)
  const before = usage(pid)
  await new Promise((r) => setTimeout(r, 10_000))
  const after = usage(pid)
  console.log(`agent at rest: RSS ${(after.rssKiB / 1024).toFixed(1)} MiB, CPU ${((after.cpuTicks - before.cpuTicks) / 100 / 10 * 1000).toFixed(1)} millicores over 10 s (resync every 2 s)`)

  // etcd goes away: /healthz stays 200 and says etcd is unreachable; the data plane (and /readyz) stays.
  await etcd.stop()
  const down = await waitUntil('/healthz to report etcd unreachable', 20_000, async () => {
    const r = await probe(n1, '/healthz')
    return r.code === 200 && r.body?.etcdReachable === false ? r.body : undefined
  }, logs)
  expect(down.status).toBe('alive')
  expect(down.etcd).toMatch(/^unreachable since \S+: /)
  expect((await probe(n1, '/readyz')).code, 'routes, rules and conflist are still in place').toBe(200)

  // Restarted while etcd is down: no lease, so not ready — for Kubernetes, for node status, and for the runtime.
  expect(await n1.agent!.stop()).toBe(0)
  start(n1, ['--health-addr', HEALTH])
  const waiting = await waitUntil('the restarted agent to answer /readyz', 20_000, async () => {
    const r = await probe(n1, '/readyz')
    return r.code === 503 ? r.body : undefined
  }, logs)
  expect(waiting.problems).toContain('no subnet lease yet')
  expect((await probe(n1, '/healthz')).code).toBe(200)
  const notReady = await bridge('STATUS', call, bridgeConf)
  expect(notReady.exitCode).not.toBe(0)
  expect(notReady.json).toMatchObject({ code: 50, msg: expect.stringContaining(`has not made this node's network ready yet (no ${join(n1.stateDir, 'ready')})`) })
  const statusDown = await nodeCommand(n1, ['status', '--state-dir', n1.stateDir])
  expect(statusDown.exitCode).toBe(1)
  expect(String(statusDown.stdout)).toMatch(/NOT READY: the node agent has not made this node's network ready yet/)

  // etcd back: the agent leases its subnet again, reconciles, and everything says ready.
  await etcd.start()
  await waitUntil('node 1 ready again', 30_000, async () => (await probe(n1, '/readyz')).code === 200, logs)
  expect((await bridge('STATUS', call, bridgeConf)).exitCode).toBe(0)
  expect((await probe(n1, '/healthz')).body).toMatchObject({ etcdReachable: true, etcd: expect.stringMatching(/^reachable since/) })
  expect((await nodeCommand(n1, ['status', '--state-dir', n1.stateDir])).exitCode).toBe(0)
})
