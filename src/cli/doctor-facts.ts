// Reads the facts `tscni doctor` judges, from the namespace it runs in: tools on the plugins' PATH, firewall
// probes and listings, sysctls, directories, configs, reservations and the runtime's cache. Changes nothing.
import { constants, promises as fs } from 'node:fs'
import { dirname, join } from 'node:path'
import { createFirewall } from '../firewall/select.ts'
import { silentLogger } from '../plugin/log.ts'
import { createSystem, type NetnsState, type System } from '../system/index.ts'
import { TOOLS, type DataDirFact, type DoctorFacts, type ListingFact, type ToolFact, type ToolName } from './doctor-model.ts'
import { readNodeIpam } from './networks.ts'
import { readRuntimeCache } from './runtime-cache.ts'
import { inspectRecords } from './reconcile.ts'
import { normalizeError } from '../plugin/errors.ts'

/** Where to look. */
export interface DoctorDirs {
  readonly dataDir: string
  readonly confDir: string
  readonly cacheDir: string
  readonly stateDir: string
}

// How each tool prints its version; the -save/-restore helpers are only looked for.
const VERSION_ARGS: Partial<Record<ToolName, readonly string[]>> = {
  ip: ['-V'], bridge: ['-V'], nsenter: ['--version'], flock: ['--version'], iptables: ['--version'], ip6tables: ['--version'], nft: ['--version'], conntrack: ['--version'], dnsmasq: ['--version'],
}

// CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
const CAP_NET_ADMIN = 12n

/** Gathers every fact; `pathEnv` is the PATH the plugins use, `uid` this process's. */
export async function gatherFacts(dirs: DoctorDirs, pathEnv: string, uid: number | undefined): Promise<DoctorFacts> {
  const sys = createSystem({ pathEnv })
  const toolEntries = await Promise.all(TOOLS.map(async (t) => [t, await findTool(sys, t, pathEnv)] as const))
  const tools = Object.fromEntries(toolEntries) as Record<ToolName, ToolFact>
  const firewall = createFirewall(sys, silentLogger)
  const [probe, iptables6, ipv4, ipv6, dataDir, confFiles, capNetAdmin] = await Promise.all([
    firewall.probe(),
    sys.netfilter.iptablesUsable(6),
    sys.sysctl.get('net/ipv4/ip_forward'),
    sys.sysctl.get('net/ipv6/conf/all/forwarding'),
    dataDirState(dirs.dataDir),
    configFiles(dirs.confDir),
    hasNetAdmin(),
  ])
  const [iptables, ip6tables, nftables] = await Promise.all([
    tools['iptables-save'].path ? listing(() => sys.netfilter.save(4, 'nat')) : { error: 'iptables-save not found' },
    tools['ip6tables-save'].path ? listing(() => sys.netfilter.save(6, 'nat')) : { error: 'ip6tables-save not found' },
    tools.nft.path ? listing(async () => (await sys.netfilter.nftList(['ruleset'])) ?? '{"nftables": []}') : { error: 'nft not found' },
  ])
  const cache = readRuntimeCache(dirs.cacheDir)
  const paths = [...new Set(cache.entries.map((e) => e.netns).filter((p) => p !== ''))]
  const states = await Promise.all(paths.map(async (p) => [p, await sys.netns.state(p)] as const))
  const records = await inspectRecords(sys, dirs.stateDir, dirs.cacheDir).catch((err: unknown) => ({ live: 0, missing: [], stale: [], problems: [normalizeError(err).message] }))
  return {
    records: { stateDir: dirs.stateDir, ...records },
    uid,
    capNetAdmin,
    tools,
    probe: { iptables4: probe.iptables, iptables6, nft: probe.nftables },
    forwarding: { ipv4, ipv6 },
    dataDir,
    confFiles,
    node: readNodeIpam(dirs.dataDir, dirs.confDir),
    cache,
    netns: Object.fromEntries(states) as Record<string, NetnsState>,
    listings: { iptables, ip6tables, nftables },
  }
}

async function findTool(sys: System, name: ToolName, pathEnv: string): Promise<ToolFact> {
  const path = await which(name, pathEnv)
  const args = VERSION_ARGS[name]
  if (!path || !args) return path ? { path } : {}
  try {
    const res = await sys.exec.run(path, args, { allowFailure: true, timeoutMs: 5_000 })
    const version = `${res.stdout}\n${res.stderr}`.split('\n').map((l) => l.trim()).find((l) => l !== '')
    return version ? { path, version } : { path }
  } catch {
    return { path }
  }
}

// The first executable file named `name` in the PATH's directories, as the plugins' spawn would find it.
async function which(name: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(':').filter(Boolean)) {
    const candidate = join(dir, name)
    try {
      if ((await fs.stat(candidate)).isFile()) {
        await fs.access(candidate, constants.X_OK)
        return candidate
      }
    } catch {
      // not here
    }
  }
  return undefined
}

async function listing(read: () => Promise<string>): Promise<ListingFact> {
  try {
    return { text: await read() }
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? 'failed' }
  }
}

async function dataDirState(dir: string): Promise<DataDirFact> {
  try {
    const st = await fs.stat(dir)
    if (!st.isDirectory()) return { exists: true, isDirectory: false, writable: false }
    return { exists: true, isDirectory: true, ...(await writable(dir)) }
  } catch {
    // Not there: host-local creates it (mkdir -p) when the nearest existing ancestor is writable.
    let parent = dirname(dir)
    for (;;) {
      try {
        await fs.stat(parent)
        const w = await writable(parent)
        return { exists: false, isDirectory: false, writable: w.writable, note: w.note ? `${parent}: ${w.note}` : parent }
      } catch {
        if (parent === dirname(parent)) return { exists: false, isDirectory: false, writable: false, note: 'no existing parent' }
        parent = dirname(parent)
      }
    }
  }
}

// access(2) with W_OK also reports a read-only filesystem (EROFS), which a mode check would miss.
async function writable(dir: string): Promise<{ writable: boolean; note?: string }> {
  try {
    await fs.access(dir, constants.W_OK)
    return { writable: true }
  } catch (err) {
    return { writable: false, note: (err as NodeJS.ErrnoException).code ?? (err as Error).message }
  }
}

async function configFiles(dir: string): Promise<string[] | undefined> {
  try {
    return (await fs.readdir(dir)).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort()
  } catch {
    return undefined
  }
}

async function hasNetAdmin(): Promise<boolean | undefined> {
  try {
    const status = await fs.readFile('/proc/self/status', 'utf8')
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]
    return eff === undefined ? undefined : ((BigInt(`0x${eff}`) >> CAP_NET_ADMIN) & 1n) === 1n
  } catch {
    return undefined
  }
}
