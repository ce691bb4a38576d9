// Agents started before etcd can be reached all join within a few seconds of it coming up, many times over: etcd
// stopped, etcd's address removed, etcd's port black-holed (packets dropped, so connects hang), and the demo's own
// order (etcd just started, each node started as soon as its namespace is plugged). Always over TLS with client
// certificates. The demo failed ~1 run in 4 this last way (test/support/cluster.ts makeSegment says why).
import { execa } from 'execa'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  describeReadiness, ETCD_IP, etcdArgs, makeCerts, makeNode, makeSegment, nodeArgs, PREFIX, readNodeState, removeNodeDir, startAgent, startEtcd,
  taggedRoutes, type Certs, type Etcd, type SimNode,
} from '../support/cluster.ts'
import { NetnsPool, type TestNetns } from '../support/netns.ts'

const ROUNDS = Number(process.env.TSCNI_STARTUP_ROUNDS ?? 2)
/** "A few seconds": one retry interval (1 s), one timed-out attempt (5 s) at worst, and the slack of a loaded CI box. */
const JOIN_WITHIN_MS = 8_000
const pool = new NetnsPool()
const dir = mkdtempSync(join(tmpdir(), 'tscni-startup-'))
afterAll(async () => {
  await pool.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

type Mode = 'etcd stopped' | 'address removed' | 'port black-holed' | 'demo order'

async function ready(node: SimNode): Promise<boolean> {
  return readNodeState(node)?.peers.length === 2 && (await taggedRoutes(node.ns)).length === 2
}

/** Waits until all nodes have two peers programmed; the time it took, or an error saying what each node lacks. */
async function allJoined(nodes: readonly SimNode[], ms: number): Promise<number> {
  const start = Date.now()
  for (;;) {
    if ((await Promise.all(nodes.map(ready))).every(Boolean)) return Date.now() - start
    if (Date.now() - start > ms) throw new Error(`not all joined within ${ms} ms:\n${(await Promise.all(nodes.map((n) => describeReadiness(n, 2)))).join('\n')}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function round(mode: Mode, segment: TestNetns, etcd: Etcd, certs: Certs): Promise<number> {
  const config = JSON.stringify({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } })
  const nodes: SimNode[] = []
  const start = (node: SimNode) => startAgent(node, [...etcdArgs(etcd, certs), ...nodeArgs(node, ['--ttl', '10', '--resync', '5', '--init-config', config])])
  try {
    if (mode === 'demo order') {
      for (let n = 1; n <= 3; n++) {
        const node = await makeNode(pool, segment, n)
        nodes.push(node)
        start(node)
      }
      return await allJoined(nodes, JOIN_WITHIN_MS + 3_000)
    }
    if (mode === 'etcd stopped') await etcd.stop()
    if (mode === 'address removed') await segment.exec('ip', ['addr', 'del', `${ETCD_IP}/24`, 'dev', 'seg0'])
    if (mode === 'port black-holed') await segment.exec('iptables', ['-I', 'INPUT', '-p', 'tcp', '--dport', '2379', '-j', 'DROP'])
    for (let n = 1; n <= 3; n++) nodes.push(await makeNode(pool, segment, n))
    for (const node of nodes) start(node)
    // Until every agent has failed at least once (and then a bit, so a black-holed one sits in a hanging connect).
    const failing = /waiting for the cluster config: cannot reach etcd/
    for (const node of nodes) {
      const end = Date.now() + 20_000
      while (!failing.test(node.agent!.log())) {
        if (Date.now() > end) throw new Error(`${node.ip} never said it cannot reach etcd:\n${node.agent!.log()}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    await new Promise((r) => setTimeout(r, 1_500))
    for (const node of nodes) expect(readNodeState(node), `${node.ip} joined while etcd was unreachable`).toBeUndefined()
    if (mode === 'etcd stopped') await etcd.start()
    if (mode === 'address removed') await segment.exec('ip', ['addr', 'add', `${ETCD_IP}/24`, 'dev', 'seg0'])
    if (mode === 'port black-holed') await segment.exec('iptables', ['-D', 'INPUT', '-p', 'tcp', '--dport', '2379', '-j', 'DROP'])
    const took = await allJoined(nodes, JOIN_WITHIN_MS)
    for (const node of nodes) expect(node.agent!.log()).toMatch(/got the cluster config after [\d.]+ s/)
    return took
  } finally {
    for (const node of nodes) {
      await node.agent?.stop()
      await execa('ip', ['netns', 'del', node.ns.name], { reject: false })
      removeNodeDir(node)
    }
    await etcd.ctl(['del', '--prefix', PREFIX]).catch(() => undefined)
  }
}

describe('node agents started before etcd is reachable', () => {
  it(`all join within ${JOIN_WITHIN_MS / 1000} s of etcd coming up, ${ROUNDS} rounds of each way etcd can be away`, async () => {
    const { segment } = await makeSegment(pool)
    const certs = await makeCerts(dir)
    const times: string[] = []
    for (let r = 1; r <= ROUNDS; r++) {
      for (const mode of ['demo order', 'etcd stopped', 'address removed', 'port black-holed'] as const) {
        // A fresh etcd for the demo's order: the agents meet it just after it became healthy.
        const etcd = await startEtcd(segment, join(dir, `etcd-${r}-${mode.replace(/\W/g, '')}`), certs)
        try {
          times.push(`${mode} #${r}: ${await round(mode, segment, etcd, certs)} ms`)
        } finally {
          await etcd.stop()
        }
      }
    }
    process.stdout.write(`joined after etcd came up: ${times.join(', ')}\n`)
  }, 115_000)
})
