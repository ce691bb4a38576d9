// Side-by-side benchmark: tscni and the reference plugins (Debian containernetworking-plugins, /usr/lib/cni) driven
// the same way (env + stdin per plugin, as libcni does), each implementation in its own throwaway "host" namespace,
// samples alternating between them after a warm-up; prints medians and ratios (tscni / reference).
// Run with `npm run bench` (root). Traffic-free: only plugin calls, all inside namespaces this script creates.
// Env: BENCH_SAMPLES (default 21), BENCH_WARMUP (2), BENCH_SCALE ("0,100,500": attachments present for the scale
// rows), BENCH_FILL_DEADLINE_S (120: the most time one implementation may spend filling), BENCH_ONLY (row filter),
// BENCH_TSCNI (the executable, default dist/tscni), BENCH_REFERENCE_DIR (default /usr/lib/cni), BENCH_TSCNI_ENV
// (extra environment for tscni's calls, e.g. "TSCNI_NETLINK=1").
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { cpus, release, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from './bench-worker.ts'

// BENCH_TSCNI and BENCH_REFERENCE_DIR swap either side: an A/B run of two tscni builds compares one change.
const REFERENCE_DIR = process.env.BENCH_REFERENCE_DIR ?? '/usr/lib/cni'
const TSCNI = resolve(process.env.BENCH_TSCNI ?? 'dist/tscni')
const REFERENCE_IS_TSCNI = existsSync(join(REFERENCE_DIR, 'tscni'))
const TSCNI_ENV = Object.fromEntries((process.env.BENCH_TSCNI_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
const SAMPLES = Math.max(1, Number(process.env.BENCH_SAMPLES ?? 21))
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const SCALE = (process.env.BENCH_SCALE ?? '0,100,500').split(',').map(Number)
const FILL_DEADLINE_MS = Number(process.env.BENCH_FILL_DEADLINE_S ?? 120) * 1000
// BENCH_ONLY: comma-separated words; a section runs when one of them is part of its name ("floors", "scale", "IPv4").
const ONLY = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean)
const wanted = (name: string): boolean => ONLY.length === 0 || ONLY.some((w) => name.includes(w))
const CONCURRENT = 20

type Impl = 'tscni' | 'reference'
type Plugin = Record<string, unknown> & { type: string }

// --- configurations -------------------------------------------------------------------------------------------

const PORTS = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8443, containerPort: 443, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] }

function bridge(dataDir: string, dual: boolean, masqBackend?: string): Plugin {
  const ranges = [[{ subnet: '10.77.0.0/16' }], ...(dual ? [[{ subnet: 'fd77::/64' }]] : [])]
  const routes = [{ dst: '0.0.0.0/0' }, ...(dual ? [{ dst: '::/0' }] : [])]
  return { type: 'bridge', bridge: 'bench0', isGateway: true, ipMasq: true, ...(masqBackend ? { ipMasqBackend: masqBackend } : {}), ipam: { type: 'host-local', dataDir, ranges, routes } }
}

interface Scenario {
  readonly name: string
  readonly plugins: (dataDir: string, impl: Impl) => Plugin[]
  readonly caps?: Record<string, unknown>
}

// Debian's reference (1.1.1) has no nftables backend: its list runs with iptables and ignores the backend options.
const SCENARIOS: Scenario[] = [
  { name: 'bridge+host-local IPv4', plugins: (d) => [bridge(d, false)] },
  { name: 'bridge+host-local dual stack', plugins: (d) => [bridge(d, true)] },
  { name: 'full list iptables (3 ports)', plugins: (d) => [bridge(d, false), { type: 'portmap', capabilities: { portMappings: true }, backend: 'iptables' }], caps: PORTS },
  { name: 'full list nftables (3 ports)', plugins: (d, impl) => [bridge(d, false, impl === 'tscni' ? 'nftables' : undefined), { type: 'portmap', capabilities: { portMappings: true }, ...(impl === 'tscni' ? { backend: 'nftables' } : {}) }], caps: PORTS },
]

// --- workers ----------------------------------------------------------------------------------------------------

/** One implementation's worker process inside its own host namespace. */
class Worker {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>()
  readonly child: ChildProcess
  readonly host: string
  readonly dataDir: string
  readonly impl: Impl

  constructor(impl: Impl, binDir: string, scenario: Scenario) {
    this.impl = impl
    this.host = `tscni-bench-h-${process.pid}-${hosts.length}`
    hosts.push(this.host)
    execFileSync('ip', ['netns', 'add', this.host])
    execFileSync('ip', ['-n', this.host, 'link', 'set', 'lo', 'up'])
    this.dataDir = mkdtempSync(join(tmpdir(), 'tscni-bench-data-'))
    dataDirs.push(this.dataDir)
    // The worker (and every plugin it spawns) runs in the host namespace with no wrapper per call; `ip netns exec`
    // rather than nsenter --net, because it also mounts a /sys of that namespace (plugins read /sys/class/net).
    this.child = spawn('ip', ['netns', 'exec', this.host, process.execPath, resolve('bench/bench-worker.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    if (this.child.pid) workerPids.push(this.child.pid)
    this.child.on('message', (m: { seq: number; value?: unknown; error?: string }) => {
      const w = this.waiting.get(m.seq)
      this.waiting.delete(m.seq)
      if (m.error !== undefined) w?.reject(new Error(`${impl}: ${m.error}`))
      else w?.resolve(m.value)
    })
    this.child.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error(`${impl} worker exited`))
      this.waiting.clear()
    })
    void this.send({ op: 'setup', conf: { cniVersion: '1.0.0', name: 'benchnet', plugins: scenario.plugins(this.dataDir, REFERENCE_IS_TSCNI ? 'tscni' : impl) }, binDir, caps: scenario.caps,
      // tscni keeps attachment records under TSCNI_STATE_DIR: a temp dir of the run, never the machine's.
      ...(impl === 'tscni' || REFERENCE_IS_TSCNI ? { env: { TSCNI_STATE_DIR: join(this.dataDir, 'state'), ...(impl === 'tscni' ? TSCNI_ENV : {}) } } : {}) })
  }

  send<T = any>(cmd: Command): Promise<T> {
    const seq = this.seq++
    return new Promise<T>((res, rej) => {
      this.waiting.set(seq, { resolve: res, reject: rej })
      this.child.send({ seq, cmd })
    })
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    await this.send({ op: 'exit' }).catch(() => {})
    await exited
  }
}

const hosts: string[] = []
const workerPids: number[] = []
const dataDirs: string[] = []

// --- statistics and printing ------------------------------------------------------------------------------------

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const rows: string[] = []
function header(title: string): void {
  const line = `\n${title}\n${'row'.padEnd(52)} ${'tscni'.padStart(9)} ${'reference'.padStart(10)} ${'ratio'.padStart(7)}   notes`
  rows.push(line)
  console.log(line)
}
function row(label: string, ours: number | undefined, ref: number | undefined, unit = 'ms', notes = ''): void {
  const fmt = (v: number | undefined): string => (v === undefined ? '-' : unit === 'processes' ? String(Math.round(v)) : v.toFixed(1))
  const ratio = ours === undefined || ref === undefined || ref === 0 ? '-' : `${(ours / ref).toFixed(2)}x`
  const line = `${label.padEnd(52)} ${fmt(ours).padStart(9)} ${fmt(ref).padStart(10)} ${ratio.padStart(7)}   ${unit === 'ms' ? '' : unit}${notes ? `${unit === 'ms' ? '' : '; '}${notes}` : ''}`
  rows.push(line)
  console.log(line)
}

// --- measurements -----------------------------------------------------------------------------------------------

interface Sample { ms: number; cpuMs: number; rssKiB: number; children: number }

/** ADD then DEL of one fresh container, alternating implementations sample by sample, after a warm-up. */
async function alternate(workers: Record<Impl, Worker>, samples: number): Promise<Record<Impl, { add: Sample[]; del: Sample[] }>> {
  const out = { tscni: { add: [] as Sample[], del: [] as Sample[] }, reference: { add: [] as Sample[], del: [] as Sample[] } }
  for (let i = 0; i < WARMUP + samples; i++) {
    // Who goes first alternates too, so neither always follows the other's page-cache and CPU-frequency effects.
    const order: Impl[] = i % 2 ? ['reference', 'tscni'] : ['tscni', 'reference']
    for (const impl of order) {
      const add = await workers[impl].send<Sample>({ op: 'add' })
      const del = await workers[impl].send<Sample>({ op: 'del' })
      if (i >= WARMUP) {
        out[impl].add.push(add)
        out[impl].del.push(del)
      }
    }
  }
  return out
}

async function probes(w: Worker): Promise<{ addRss: number; delRss: number; addChildren: number; delChildren: number }> {
  const addRss = (await w.send<Sample>({ op: 'add', probe: 'rss' })).rssKiB
  const delRss = (await w.send<Sample>({ op: 'del', probe: 'rss' })).rssKiB
  const addChildren = (await w.send<Sample>({ op: 'add', probe: 'children' })).children
  const delChildren = (await w.send<Sample>({ op: 'del', probe: 'children' })).children
  return { addRss, delRss, addChildren, delChildren }
}

/** CPU time (user + system) of every waited-for child of this process so far, in ms (10 ms clock ticks). */
function childCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[13]) + Number(fields[14])) * 10
}

async function timeProcess(file: string, args: string[], env: Record<string, string>): Promise<number> {
  const started = performance.now()
  await new Promise<void>((res, rej) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'inherit'] })
    child.on('error', rej)
    child.on('close', () => res())
  })
  return performance.now() - started
}

async function floors(binDir: string, pinnedNode: string): Promise<void> {
  header(`Floors (median of ${SAMPLES}, alternating)`)
  const ours: number[] = []
  const ref: number[] = []
  const node: number[] = []
  const cpu = { ours: 0, ref: 0, node: 0 }
  const timed = async (file: string, args: string[], env: Record<string, string>, key: keyof typeof cpu): Promise<number> => {
    const before = childCpuMs()
    const ms = await timeProcess(file, args, env)
    cpu[key] += childCpuMs() - before
    return ms
  }
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const a = await timed(join(binDir, 'bridge'), [], { CNI_COMMAND: 'VERSION' }, 'ours')
    const b = await timed(join(REFERENCE_DIR, 'bridge'), [], { CNI_COMMAND: 'VERSION' }, 'ref')
    const c = await timed(pinnedNode, ['-e', '0'], {}, 'node')
    if (i >= WARMUP) { ours.push(a); ref.push(b); node.push(c) }
  }
  const n = WARMUP + SAMPLES
  row('VERSION (process start-up)', median(ours), median(ref))
  row('VERSION CPU (user+sys)', cpu.ours / n, cpu.ref / n, 'ms', 'mean of 10 ms ticks')
  row('node -e 0 (Node 24, the embedded runtime)', median(node), median(ref), 'ms', 'vs reference VERSION')
  row('node -e 0 CPU (user+sys)', cpu.node / n, cpu.ref / n, 'ms', 'vs reference VERSION CPU')
  const w = new Worker('tscni', binDir, SCENARIOS[0]!)
  const add: number[] = []
  const del: number[] = []
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const r = await w.send<{ addMs: number; delMs: number }>({ op: 'floor-ip' })
    if (i >= WARMUP) { add.push(r.addMs); del.push(r.delMs) }
  }
  await w.close()
  row('bridge ADD kernel work via ip -batch (host+container)', median(add), undefined, 'ms', '2 ip processes, no IPAM or firewall')
  row('bridge DEL kernel work via ip (veth delete)', median(del), undefined, 'ms', '1 ip process')
}

async function sideBySide(binDir: string): Promise<void> {
  for (const scenario of SCENARIOS) {
    if (!wanted(scenario.name)) continue
    const workers = { tscni: new Worker('tscni', binDir, scenario), reference: new Worker('reference', REFERENCE_DIR, scenario) }
    try {
      header(`${scenario.name}: one ADD and DEL (median of ${SAMPLES}, ${WARMUP} warm-up, alternating)${scenario.name.includes('nftables') ? ' — reference has no nftables backend: its iptables run' : ''}`)
      const r = await alternate(workers, SAMPLES)
      const med = (impl: Impl, verb: 'add' | 'del', f: keyof Sample): number => median(r[impl][verb].map((s) => s[f]))
      const sum = (impl: Impl): number => median(r[impl].add.map((s, i) => s.ms + r[impl].del[i]!.ms))
      row('ADD', med('tscni', 'add', 'ms'), med('reference', 'add', 'ms'))
      row('DEL', med('tscni', 'del', 'ms'), med('reference', 'del', 'ms'))
      row('ADD+DEL', sum('tscni'), sum('reference'))
      const cpu = (impl: Impl, verb: 'add' | 'del'): number => r[impl][verb].reduce((a, s) => a + s.cpuMs, 0) / r[impl][verb].length
      row('ADD CPU (user+sys, all processes)', cpu('tscni', 'add'), cpu('reference', 'add'), 'ms', 'mean of 10 ms ticks')
      row('DEL CPU (user+sys, all processes)', cpu('tscni', 'del'), cpu('reference', 'del'), 'ms', 'mean of 10 ms ticks')
      const p = { tscni: await probes(workers.tscni), reference: await probes(workers.reference) }
      row('ADD peak RSS of one plugin process', p.tscni.addRss / 1024, p.reference.addRss / 1024, 'MiB')
      row('DEL peak RSS of one plugin process', p.tscni.delRss / 1024, p.reference.delRss / 1024, 'MiB')
      row('ADD child processes (strace execve, whole list)', p.tscni.addChildren, p.reference.addChildren, 'processes')
      row('DEL child processes (strace execve, whole list)', p.tscni.delChildren, p.reference.delChildren, 'processes')
      if (scenario.name === 'bridge+host-local IPv4') {
        const c = { tscni: await workers.tscni.send({ op: 'concurrent', n: CONCURRENT }), reference: await workers.reference.send({ op: 'concurrent', n: CONCURRENT }) }
        row(`${CONCURRENT} concurrent ADDs: wall`, c.tscni.wallMs, c.reference.wallMs)
        row(`${CONCURRENT} concurrent ADDs: CPU per call`, c.tscni.cpuPerCall, c.reference.cpuPerCall)
      }
    } finally {
      await workers.tscni.close()
      await workers.reference.close()
    }
  }
}

/** One more ADD/DEL of the full list with 0, 100 and 500 attachments already present. */
async function scale(binDir: string): Promise<void> {
  if (!wanted('scale')) return
  const samples = Math.max(5, Math.ceil(SAMPLES / 2))
  header(`One more ADD/DEL of the full list (3 ports) with N attachments present (median of ${samples}); fill <= ${FILL_DEADLINE_MS / 1000} s each`)
  const lists = [SCENARIOS[3]!, SCENARIOS[2]!]
  const results: Record<string, Record<number, { add: number; del: number; n: number }>> = {}
  for (const [label, scenario, impl, dir] of [['tscni nftables', lists[0]!, 'tscni', binDir], ['tscni iptables', lists[1]!, 'tscni', binDir], ['reference iptables', lists[1]!, 'reference', REFERENCE_DIR]] as const) {
    const w = new Worker(impl, dir, scenario)
    results[label] = {}
    try {
      for (const size of SCALE) {
        const f = await w.send<{ filled: number }>({ op: 'fill', total: size, deadlineMs: FILL_DEADLINE_MS })
        const add: number[] = []
        const del: number[] = []
        for (let i = 0; i < WARMUP + samples; i++) {
          const a = await w.send<Sample>({ op: 'add' })
          const d = await w.send<Sample>({ op: 'del' })
          if (i >= WARMUP) { add.push(a.ms); del.push(d.ms) }
        }
        results[label]![size] = { add: median(add), del: median(del), n: f.filled }
      }
    } finally {
      await w.close()
    }
  }
  const ref = results['reference iptables']!
  for (const label of ['tscni nftables', 'tscni iptables']) {
    const ours = results[label]!
    for (const size of SCALE) {
      const o = ours[size]!
      const r = ref[size]!
      const note = (n: number): string => (n < size ? ` (deadline: ${n} present)` : '')
      row(`${label} ADD, ${o.n} present${note(o.n)}`, o.add, r.add, 'ms', `reference ${r.n} present${note(r.n)}`)
      row(`${label} DEL, ${o.n} present${note(o.n)}`, o.del, r.del)
    }
    const [lo, hi] = [SCALE[0]!, SCALE[SCALE.length - 1]!]
    const growth = (x: Record<number, { add: number; del: number }>, verb: 'add' | 'del'): number => x[hi]![verb] / x[lo]![verb]
    row(`${label} growth ${hi}/${lo}: ADD`, growth(ours, 'add'), growth(ref, 'add'), 'x')
    row(`${label} growth ${hi}/${lo}: DEL`, growth(ours, 'del'), growth(ref, 'del'), 'x')
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces)')
  if (!existsSync(join(REFERENCE_DIR, 'bridge'))) throw new Error(`reference plugins missing in ${REFERENCE_DIR} (apt-get install containernetworking-plugins)`)
  const binDir = mkdtempSync(join(tmpdir(), 'tscni-bench-bin-'))
  copyFileSync(TSCNI, join(binDir, 'tscni'))
  for (const name of ['bridge', 'host-local', 'portmap']) symlinkSync('tscni', join(binDir, name))
  const pinnedNode = resolve('node_modules/.bin/node')
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(`tscni ${TSCNI} vs reference ${REFERENCE_DIR}; ${cpus().length} x ${cpus()[0]?.model ?? '?'}; kernel ${release()}; load ${load}`)
  console.log(`ms unless noted; ratio = tscni / reference (below 1: tscni faster)${Object.keys(TSCNI_ENV).length ? `; tscni env: ${process.env.BENCH_TSCNI_ENV}` : ''}`)
  // Stopped from outside (Ctrl-C, a killed CI job): the workers are killed and the same clean-up runs.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const pid of workerPids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      cleanUp()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
  try {
    if (wanted('floors')) await floors(binDir, pinnedNode)
    await sideBySide(binDir)
    await scale(binDir)
  } finally {
    cleanUp()
  }

  function cleanUp(): void {
    for (const h of hosts) spawnSync('ip', ['netns', 'del', h], { stdio: 'ignore' })
    // Container namespaces of a worker that died are named after it; none should be left.
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!)
      .filter((n) => workerPids.some((pid) => n.startsWith(`tscni-bench-c-${pid}-`)))
    for (const n of left) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' })
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true })
    rmSync(binDir, { recursive: true, force: true })
  }
}

await main()
