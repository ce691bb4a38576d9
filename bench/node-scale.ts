// Node agent at scale: one real `tscni node run` in a throwaway host namespace against N simulated peers written
// into a private etcd (TLS) as leases, per backend (vxlan, host-gw). Measures, from the kernel's own netlink events:
// a new peer's route/neighbour/FDB entries after its lease is written, a cold start's full sync of N peers, and a
// peer's removal; from /proc: the agent's idle CPU (with the ip/bridge/iptables it runs) and RSS; from etcd's
// metrics: the requests and watch streams one idle agent costs etcd per minute (N agents cost N times that).
// Run as root: `npm run bench:node` (or `node bench/node-scale.ts`). Env: NODE_BENCH_PEERS ("100,500,1000"),
// NODE_BENCH_BACKENDS ("vxlan,host-gw"), NODE_BENCH_IDLE_S (60), NODE_BENCH_NEW (10 new peers), NODE_BENCH_TSCNI
// (dist/tscni), NODE_BENCH_ARGS (extra agent arguments, e.g. "--resync 10"), NODE_BENCH_JSON (write results there),
// NODE_BENCH_LOG_LEVEL (the agent's TSCNI_LOG_LEVEL; when set, its log is printed after each run).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { formatIp, parseIp } from '../src/plugin/addr.ts'
import { parseClusterConfig } from '../src/node/cluster-config.ts'
import { leaseValue, type Lease } from '../src/node/leases.ts'
import { vtepMac } from '../src/node/plan.ts'
import { subnetAt, subnetKey, subnetText } from '../src/node/subnets.ts'
import { ETCD_IP, makeCerts, startEtcd, type Etcd } from '../test/support/cluster.ts'
import { handle } from '../test/support/netns.ts'
import type { EtcdCommand } from './node-scale-etcd.ts'
import { cpuSeconds, KernelWatch, kernelCounts, memory } from './node-scale-kernel.ts'
import { summarize, type RunResult } from './node-scale-report.ts'

const PEERS = (process.env.NODE_BENCH_PEERS ?? '100,500,1000').split(',').map(Number)
const BACKENDS = (process.env.NODE_BENCH_BACKENDS ?? 'vxlan,host-gw').split(',') as Array<'vxlan' | 'host-gw'>
const IDLE_S = Number(process.env.NODE_BENCH_IDLE_S ?? 60)
const NEW = Number(process.env.NODE_BENCH_NEW ?? 10)
const TSCNI = resolve(process.env.NODE_BENCH_TSCNI ?? 'dist/tscni')
const EXTRA = (process.env.NODE_BENCH_ARGS ?? '').split(/\s+/).filter(Boolean)
// A /18 segment holds a thousand peers' PublicIPs (host-gw needs them on the agent's segment); the /13 cluster
// network holds 2047 /24 node subnets. etcd keeps the address its test certificate names.
const SEGMENT_LEN = 18
const AGENT_IP = '192.168.77.10'
const PEER_IP_BASE = parseIp('192.168.80.0')!.value
const NETWORK = '10.64.0.0/13'

// --- everything this run creates, removed at the end and on Ctrl-C ----------------------------------------------

const namespaces: string[] = []
const dirs: string[] = []
const children: ChildProcess[] = []
let etcd: Etcd | undefined

function makeNs(prefix: string): string {
  const name = `${prefix}-${process.pid}-${namespaces.length}`
  spawnSync('ip', ['netns', 'add', name], { stdio: 'inherit' })
  namespaces.push(name)
  ip(name, ['link', 'set', 'lo', 'up'])
  return name
}

function ip(ns: string, args: string[]): void {
  const res = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${res.stderr.trim()}`)
}

function removeNs(name: string): void {
  // Only processes inside a namespace this run made: our agent, etcd, the etcd worker.
  for (const pid of spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
  }
  spawnSync('ip', ['netns', 'del', name])
  namespaces.splice(namespaces.indexOf(name), 1)
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  for (const ns of [...namespaces].reverse()) removeNs(ns)
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: cleaning up`)
    cleanup()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  })
}

// --- the etcd worker --------------------------------------------------------------------------------------------

class EtcdWorker {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>()
  private readonly child: ChildProcess
  constructor(segment: string, args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', segment, process.execPath, resolve('bench/node-scale-etcd.ts'), ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(this.child)
    this.child.on('message', (m: { seq: number; value?: unknown; error?: string }) => {
      const w = this.waiting.get(m.seq)
      this.waiting.delete(m.seq)
      if (m.error !== undefined) w?.reject(new Error(`etcd worker: ${m.error}`))
      else w?.resolve(m.value)
    })
  }
  send<T = any>(cmd: EtcdCommand): Promise<T> {
    const seq = this.seq++
    return new Promise<T>((res, rej) => {
      this.waiting.set(seq, { resolve: res, reject: rej })
      this.child.send({ seq, cmd })
    })
  }
}

// --- peers ------------------------------------------------------------------------------------------------------

interface Peer { key: string; value: string; expect: string[] }

function peer(prefix: string, backend: 'vxlan' | 'host-gw', index: number, ipOffset: number): Peer {
  const config = parseClusterConfig({ Network: NETWORK, SubnetLen: 24, Backend: { Type: backend } })
  const subnet = subnetAt(config, index)!
  const publicIp = formatIp({ family: 4, value: PEER_IP_BASE + BigInt(ipOffset) })
  const mac = vtepMac(publicIp)
  const lease: Lease = backend === 'vxlan'
    ? { key: subnetKey(subnet), subnet, publicIp, backendType: 'vxlan', vtepMac: mac }
    : { key: subnetKey(subnet), subnet, publicIp, backendType: 'host-gw' }
  const expect = [`route ${subnetText(subnet)}`, ...(backend === 'vxlan' ? [`neigh ${formatIp(subnet.ip)}`, `fdb ${mac}`] : [])]
  return { key: `${prefix}/subnets/${subnetKey(subnet)}`, value: leaseValue(lease, config.backend.vni), expect }
}

/** Resolves with the time every key was first announced at or after `since` (the latest of them), or throws. */
async function allAdded(watch: KernelWatch, keys: readonly string[], since: number, ms: number, what: string, log: () => string): Promise<{ first: number; last: number }> {
  const end = performance.now() + ms
  for (;;) {
    const times = keys.map((k) => watch.addedSince(k, since))
    if (times.every((t) => t !== undefined)) return { first: Math.min(...(times as number[])), last: Math.max(...(times as number[])) }
    if (performance.now() > end) {
      const missing = keys.filter((_, i) => times[i] === undefined)
      throw new Error(`${what}: ${missing.length} of ${keys.length} kernel entries missing after ${ms} ms (e.g. ${missing.slice(0, 3).join(', ')})\nagent log:\n${log().slice(-3000)}`)
    }
    await sleep(5)
  }
}

async function allDeleted(watch: KernelWatch, keys: readonly string[], since: number, ms: number): Promise<number | undefined> {
  const end = performance.now() + ms
  for (;;) {
    const times = keys.map((k) => watch.deletedSince(k, since))
    if (times.every((t) => t !== undefined)) return Math.max(...(times as number[]))
    if (performance.now() > end) return undefined
    await sleep(5)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** etcd's request counters: calls started per gRPC method (the JSON gateway turns each request into one). */
function counters(metrics: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of metrics.split('\n')) {
    const started = /^grpc_server_started_total\{.*grpc_method="(\w+)".*\} (\S+)$/.exec(line)
    if (started) out[started[1]!] = (out[started[1]!] ?? 0) + Number(started[2])
    const gauge = /^(etcd_debugging_mvcc_watch_stream_total|etcd_debugging_mvcc_watcher_total|etcd_network_client_grpc_sent_bytes_total|etcd_network_client_grpc_received_bytes_total) (\S+)$/.exec(line)
    if (gauge) out[gauge[1]!] = Number(gauge[2])
  }
  return out
}

// --- one run: a backend and N peers ------------------------------------------------------------------------------

async function run(segment: string, worker: EtcdWorker, certs: { ca: string; clientCert: string; clientKey: string }, backend: 'vxlan' | 'host-gw', n: number, slot: number): Promise<RunResult> {
  const prefix = `/bench/${backend}-${n}`
  const ns = makeNs('tscni-nsb-a')
  const port = `up${slot}`
  ip(segment, ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  ip(segment, ['link', 'set', port, 'master', 'seg0', 'up'])
  ip(ns, ['addr', 'add', `${AGENT_IP}/${SEGMENT_LEN}`, 'dev', 'eth0'])
  ip(ns, ['link', 'set', 'eth0', 'up'])
  const dir = mkdtempSync(join(tmpdir(), 'tscni-node-bench-'))
  dirs.push(dir)
  await worker.send({ op: 'put', key: `${prefix}/config`, value: JSON.stringify({ Network: NETWORK, SubnetLen: 24, Backend: { Type: backend } }), leased: false })
  // Peers take node subnets 1..N (the agent leases the lowest free one, 0) and PublicIPs 192.168.80.1 on.
  const peers = Array.from({ length: n }, (_, i) => peer(prefix, backend, i + 1, i + 1))
  await worker.send({ op: 'put-many', entries: peers.map(({ key, value }) => ({ key, value })) })

  const watch = new KernelWatch(ns)
  await watch.ready()
  const args = ['node', 'run', '--etcd-endpoints', `https://${ETCD_IP}:2379`, '--etcd-cafile', certs.ca, '--etcd-certfile', certs.clientCert, '--etcd-keyfile', certs.clientKey,
    '--etcd-prefix', prefix, '--iface', 'eth0', '--state-dir', join(dir, 'state'), '--cni-conf-dir', join(dir, 'net.d'), '--ipam-data-dir', join(dir, 'ipam'), ...EXTRA]
  let log = ''
  const t0 = performance.now()
  // `ip netns exec` execs the command: the child's pid is the agent's.
  const agent = spawn('ip', ['netns', 'exec', ns, TSCNI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSCNI_LOG_LEVEL: process.env.NODE_BENCH_LOG_LEVEL ?? 'info' } })
  children.push(agent)
  for (const s of [agent.stdout!, agent.stderr!]) s.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-100_000) })
  const pid = agent.pid!
  try {
    const all = peers.flatMap((p) => p.expect)
    const cold = await allAdded(watch, all, t0, 120_000, `cold start with ${n} peers`, () => log)
    const afterStart = memory(pid)
    const counts = kernelCounts(ns, backend === 'vxlan' ? 'tscni.1' : undefined)
    await sleep(2_000)

    // NODE_BENCH_STRACE=file: the agent's child processes during the new-peer probes, for finding where time goes.
    const strace = process.env.NODE_BENCH_STRACE ? spawn('strace', ['-f', '-tt', '-e', 'trace=execve,exit_group,openat', '-o', `${process.env.NODE_BENCH_STRACE}.${backend}-${n}`, '-p', String(pid)], { stdio: 'ignore' }) : undefined
    if (strace) { children.push(strace); await sleep(1000) }
    // New peers one at a time, at varied moments relative to the resync timer; then their removal.
    const added: number[] = []
    const removed: number[] = []
    const fresh = Array.from({ length: NEW }, (_, k) => peer(prefix, backend, n + 1 + k, 4096 + k))
    for (const p of fresh) {
      await sleep(300 + Math.random() * 700)
      const t = performance.now()
      await worker.send({ op: 'put', key: p.key, value: p.value })
      added.push((await allAdded(watch, p.expect, t, 30_000, `new peer ${p.key}`, () => log)).last - t)
    }
    for (const p of fresh) {
      await sleep(300 + Math.random() * 700)
      const t = performance.now()
      await worker.send({ op: 'delete-prefix', prefix: p.key })
      const at = await allDeleted(watch, p.expect, t, 30_000)
      removed.push(at === undefined ? NaN : at - t)
    }

    strace?.kill('SIGINT')

    // A full resync: everything of ours flushed from the kernel (the VXLAN device takes its routes, neighbours
    // and FDB entries along; host-gw's routes by their tag), then one lease write, whose pass re-programs all.
    await sleep(1_000)
    watch.forget(all)
    if (backend === 'vxlan') ip(ns, ['link', 'del', 'tscni.1'])
    else ip(ns, ['route', 'flush', 'proto', '77'])
    const trigger = peer(prefix, backend, n + NEW + 1, 8192)
    const tr = performance.now()
    await worker.send({ op: 'put', key: trigger.key, value: trigger.value })
    const resync = await allAdded(watch, [...all, ...trigger.expect], tr, 60_000, `resync of ${n} peers after a flush`, () => log)
    await worker.send({ op: 'delete-prefix', prefix: trigger.key })
    await sleep(2_000)
    const m0 = counters(await worker.send<string>({ op: 'metrics' }))
    const c0 = cpuSeconds(pid)
    const w0 = performance.now()
    await sleep(IDLE_S * 1000)
    const c1 = cpuSeconds(pid)
    const window = (performance.now() - w0) / 1000
    const m1 = counters(await worker.send<string>({ op: 'metrics' }))
    const end = memory(pid)
    const perMin = (k: string) => (((m1[k] ?? 0) - (m0[k] ?? 0)) * 60) / window
    const result: RunResult = {
      backend, n,
      coldStartMs: cold.last - t0, firstEntryMs: cold.first - t0, resyncMs: resync.last - tr, counts,
      newPeerMs: added, removedPeerMs: removed,
      idleWindowS: window, idleCpuSPerMin: ((c1.self + c1.children - c0.self - c0.children) * 60) / window, idleChildrenCpuSPerMin: ((c1.children - c0.children) * 60) / window,
      rssMiB: end.rss, hwmMiB: end.hwm, anonMiB: end.anon, fileMiB: end.file, rssAfterStartMiB: afterStart.rss,
      etcdPerMin: { Range: perMin('Range'), LeaseKeepAlive: perMin('LeaseKeepAlive'), Watch: perMin('Watch'), Put: perMin('Put'), Txn: perMin('Txn'), LeaseGrant: perMin('LeaseGrant') },
      watchStreams: m1.etcd_debugging_mvcc_watch_stream_total ?? NaN, watchers: m1.etcd_debugging_mvcc_watcher_total ?? NaN,
      grpcSentBytesPerMin: perMin('etcd_network_client_grpc_sent_bytes_total'),
      listJsonBytes: await worker.send<number>({ op: 'range-bytes', prefix: `${prefix}/subnets/` }),
    }
    console.log(JSON.stringify(result))
    if (process.env.NODE_BENCH_LOG_LEVEL) console.log(log)
    return result
  } finally {
    watch.stop()
    agent.kill('SIGTERM')
    await new Promise((r) => (agent.exitCode === null ? agent.once('exit', r) : r(undefined)))
    removeNs(ns)
    await worker.send({ op: 'delete-prefix', prefix: `${prefix}/` })
  }
}

// --- main -------------------------------------------------------------------------------------------------------

try {
  const segment = makeNs('tscni-nsb-seg')
  ip(segment, ['link', 'add', 'seg0', 'type', 'bridge'])
  ip(segment, ['addr', 'add', `${ETCD_IP}/${SEGMENT_LEN}`, 'dev', 'seg0'])
  ip(segment, ['link', 'set', 'seg0', 'up'])
  const dir = mkdtempSync(join(tmpdir(), 'tscni-node-bench-etcd-'))
  dirs.push(dir)
  const certs = await makeCerts(dir)
  etcd = await startEtcd(handle(segment), dir, certs)
  const worker = new EtcdWorker(segment, [`https://${ETCD_IP}:2379`, certs.ca, certs.clientCert, certs.clientKey])
  console.log(`node agent at scale: ${TSCNI}; ${cpus().length} x ${cpus()[0]?.model.trim()}; kernel ${release()}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`peers ${PEERS.join(', ')}; backends ${BACKENDS.join(', ')}; ${NEW} new peers each; idle window ${IDLE_S} s; agent defaults${EXTRA.length ? ` plus ${EXTRA.join(' ')}` : ''}`)
  const results: RunResult[] = []
  let slot = 0
  for (const backend of BACKENDS) for (const n of PEERS) results.push(await run(segment, worker, certs, backend, n, slot++))
  await worker.send({ op: 'exit' }).catch(() => undefined)
  console.log(`\n${summarize(results)}`)
  if (process.env.NODE_BENCH_JSON) writeFileSync(process.env.NODE_BENCH_JSON, JSON.stringify(results, null, 2))
} finally {
  await etcd?.stop().catch(() => undefined)
  cleanup()
}
