// The node-scale benchmark's view of the kernel and of the agent process: `ip monitor route`, `ip monitor neigh`
// and `bridge monitor fdb` in the agent's namespace timestamp every route, neighbour and FDB entry as the kernel
// announces it (netlink events, so nothing is polled and the agent is not slowed by the measuring); /proc gives
// the agent's CPU time and memory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

export type Kind = 'route' | 'neigh' | 'fdb'

/** When each object was last added and deleted, keyed by kind and the object's identity. */
export class KernelWatch {
  private readonly procs: ChildProcess[] = []
  readonly added = new Map<string, number>()
  readonly deleted = new Map<string, number>()
  private readonly probeSeen = new Set<Kind>()
  readonly ns: string

  constructor(ns: string) {
    this.ns = ns
    this.start('route', 'ip', ['-n', ns, 'monitor', 'route'])
    this.start('neigh', 'ip', ['-n', ns, 'monitor', 'neigh'])
    this.start('fdb', 'bridge', ['-n', ns, 'monitor', 'fdb'])
  }

  private start(kind: Kind, cmd: string, args: string[]): void {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    this.procs.push(proc)
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const at = performance.now()
      const del = line.startsWith('Deleted ')
      const text = del ? line.slice(8) : line
      if (text.includes('tsbprobe')) this.probeSeen.add(kind)
      const key = identity(kind, text, del)
      if (!key) return
      // The first announcement after the last deletion counts (a later replace of the same entry is not news).
      if (del) this.deleted.set(key, at)
      else if (!this.added.has(key) || (this.deleted.get(key) ?? -1) > this.added.get(key)!) this.added.set(key, at)
    })
  }

  /** Waits until all three monitors have reported a probe change (they are listening), then removes it. */
  async ready(): Promise<void> {
    const ip = (args: string[]) => spawnSync('ip', ['-n', this.ns, ...args], { stdio: 'ignore' })
    ip(['link', 'add', 'tsbprobe', 'type', 'bridge'])
    ip(['addr', 'add', '203.0.113.1/24', 'dev', 'tsbprobe'])
    ip(['link', 'set', 'tsbprobe', 'up'])
    ip(['neigh', 'add', '203.0.113.5', 'lladdr', '02:00:00:00:00:05', 'dev', 'tsbprobe'])
    for (let i = 0; this.probeSeen.size < 3; i++) {
      if (i > 100) throw new Error(`kernel monitors in ${this.ns} did not start (saw ${[...this.probeSeen].join(', ') || 'nothing'})`)
      await new Promise((r) => setTimeout(r, 50))
    }
    ip(['link', 'del', 'tsbprobe'])
  }

  /** The time an object was added at or after `since`, or undefined. */
  addedSince(key: string, since: number): number | undefined {
    const at = this.added.get(key)
    return at !== undefined && at >= since ? at : undefined
  }

  deletedSince(key: string, since: number): number | undefined {
    const at = this.deleted.get(key)
    return at !== undefined && at >= since ? at : undefined
  }

  /** Forgets what was seen of these objects: the kernel announces no deletion of routes a device takes along. */
  forget(keys: readonly string[]): void {
    for (const k of keys) {
      this.added.delete(k)
      this.deleted.delete(k)
    }
  }

  stop(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM')
  }
}

/** The identity of a monitored object (only ours: tagged routes, entries on a tscni.* device; host-gw routes by dst). */
function identity(kind: Kind, line: string, deleted: boolean): string | undefined {
  const f = line.trim().split(/\s+/)
  if (kind === 'route') return line.includes(' proto 77') ? `route ${f[0]}` : undefined
  // A neighbour being deleted is announced without its lladdr (first as FAILED, then "Deleted ... FAILED").
  if (kind === 'neigh') return /dev tscni\.\d+ /.test(line) && (deleted || line.includes('lladdr')) ? `neigh ${f[0]}` : undefined
  return /dev tscni\.\d+ /.test(line) && line.includes(' dst ') ? `fdb ${f[0]}` : undefined
}

/** CPU time of the process itself and of its waited-for children (the ip, bridge and iptables it runs), seconds. */
export function cpuSeconds(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14-17 of proc(5): utime, stime, cutime, cstime (f[0] is field 3).
  const ticks = (fields: number[]) => fields.reduce((sum, i) => sum + Number(f[i]), 0) / CLK_TCK
  return { self: ticks([11, 12]), children: ticks([13, 14]) }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** Resident memory now and at its peak, and now split into anonymous (heap) and file-backed pages, MiB. */
export function memory(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024 }
}

/** Counts of what the kernel holds in the namespace (a check of the monitors' view). */
export function kernelCounts(ns: string, dev: string | undefined): { routes: number; neigh: number; fdb: number } {
  const json = (cmd: string, args: string[]) => JSON.parse(spawnSync(cmd, ['-n', ns, '-j', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout || '[]') as unknown[]
  const routes = json('ip', ['route', 'show', 'proto', '77']).length
  if (!dev) return { routes, neigh: 0, fdb: 0 }
  const neigh = (json('ip', ['neigh', 'show', 'dev', dev, 'nud', 'permanent'])).length
  const fdb = (json('bridge', ['fdb', 'show', 'dev', dev]) as Array<{ dst?: string }>).filter((e) => e.dst !== undefined).length
  return { routes, neigh, fdb }
}
