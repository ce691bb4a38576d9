// The node-scale benchmark's tables: figures per backend and N, the targets met or missed, and what N
// agents would cost etcd (one idle agent's measured requests, times N).

/** One backend at one N. */
export interface RunResult {
  readonly backend: string
  readonly n: number
  /** Agent spawn to the last of the N peers' entries in the kernel (a full sync from nothing). */
  readonly coldStartMs: number
  /** Agent spawn to the first peer entry (the rest of the cold start is the sync itself). */
  readonly firstEntryMs: number
  /** One lease written after everything of ours was flushed from the kernel, to all N + 1 peers programmed again. */
  readonly resyncMs: number
  readonly counts: { routes: number; neigh: number; fdb: number }
  /** Lease written to the last of its route/neighbour/FDB entries, per new peer. */
  readonly newPeerMs: readonly number[]
  /** Lease deleted to the last of its entries removed, per peer. */
  readonly removedPeerMs: readonly number[]
  readonly idleWindowS: number
  /** CPU seconds per minute idle, the agent and the processes it ran. */
  readonly idleCpuSPerMin: number
  /** The part of it spent in the processes the agent ran. */
  readonly idleChildrenCpuSPerMin: number
  readonly rssMiB: number
  readonly hwmMiB: number
  readonly rssAfterStartMiB: number
  /** RSS at the end, anonymous (heap, stacks) and file-backed (the executable's pages). */
  readonly anonMiB: number
  readonly fileMiB: number
  /** gRPC calls started per minute by the one idle agent (etcd's own counters). */
  readonly etcdPerMin: Readonly<Record<string, number>>
  readonly watchStreams: number
  readonly watchers: number
  readonly grpcSentBytesPerMin: number
  /** Size of one listing of the N leases as the JSON gateway sends it. */
  readonly listJsonBytes: number
}

const median = (xs: readonly number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const max = (xs: readonly number[]) => Math.max(...xs.filter((x) => !Number.isNaN(x)))
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-')
const pad = (cells: readonly string[], widths: readonly number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')

/** The tables printed at the end of a run. */
export function summarize(results: readonly RunResult[]): string {
  const lines: string[] = []
  const w = [12, 5, 9, 9, 9, 7, 10, 7, 10, 15, 8, 8, 9, 9]
  lines.push('One agent against N peers (ms unless noted; new/removed peer: median and max of the probes; resync: a flush, then one lease; cold start: agent spawn to all N programmed, first: to the first entry)')
  lines.push(pad(['backend', 'N', 'new peer', 'new max', 'removed', 'resync', 'cold start', 'first', 'CPU s/min', 'of it children', 'RSS MiB', 'HWM MiB', 'anon MiB', 'file MiB'], w))
  for (const r of results) {
    lines.push(pad([r.backend, String(r.n), f(median(r.newPeerMs)), f(max(r.newPeerMs)), f(median(r.removedPeerMs)), f(r.resyncMs, 0), f(r.coldStartMs, 0), f(r.firstEntryMs, 0), f(r.idleCpuSPerMin, 2), f(r.idleChildrenCpuSPerMin, 2), f(r.rssMiB), f(r.hwmMiB), f(r.anonMiB), f(r.fileMiB)], w))
  }
  lines.push('')
  lines.push('One idle agent\'s load on etcd (calls per minute from etcd\'s grpc_server_started_total; N agents: N times)')
  const e = [16, 6, 8, 10, 8, 10, 14, 16, 18]
  lines.push(pad(['backend', 'N', 'Range', 'KeepAlive', 'Watch', 'streams', 'list bytes', 'gRPC sent B/min', 'N agents: MB/min'], e))
  for (const r of results) {
    const p = r.etcdPerMin
    // N agents each listing N leases every resync: what etcd sends grows with N squared.
    const fleet = (r.n * r.grpcSentBytesPerMin) / 1e6
    lines.push(pad([r.backend, String(r.n), f(p.Range ?? NaN), f(p.LeaseKeepAlive ?? NaN), f(p.Watch ?? NaN), f(r.watchStreams, 0), String(r.listJsonBytes), f(r.grpcSentBytesPerMin, 0), f(fleet)], e))
  }
  lines.push('')
  lines.push('Targets (issue 21) at the largest N')
  const top = Math.max(...results.map((r) => r.n))
  for (const r of results.filter((x) => x.n === top)) {
    const check = (ok: boolean) => (ok ? 'met' : 'MISSED')
    lines.push(`${r.backend} N=${r.n}: new peer <= 200 ms: ${f(max(r.newPeerMs))} ms max ${check(max(r.newPeerMs) <= 200)}; full resync <= 1 s: ${f(r.resyncMs, 0)} ms ${check(r.resyncMs <= 1000)} (cold start ${f(r.coldStartMs, 0)} ms); ` +
      `idle CPU <= 1 %: ${f((r.idleCpuSPerMin / 60) * 100, 2)} % ${check(r.idleCpuSPerMin <= 0.6)}; RSS <= 80 MiB: ${f(r.hwmMiB)} MiB peak ${check(r.hwmMiB <= 80)}`)
  }
  return lines.join('\n')
}
