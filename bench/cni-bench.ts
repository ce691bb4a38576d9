// Side-by-side benchmark: tscni and the reference plugins (Debian containernetworking-plugins, /usr/lib/cni) run the
// same config lists in the same run, each in its own throwaway "host" namespace; prints mean times and ratios.
// Run with `npm run bench` (root). Traffic-free: only plugin calls, all inside namespaces this script creates.
import { execa } from 'execa'
import { mkdtempSync, rmSync, symlinkSync, copyFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { CniRuntime, type ConfList } from '../test/support/cni-runtime.ts'
import { NetnsPool } from '../test/support/netns.ts'

const REFERENCE_DIR = '/usr/lib/cni'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)

interface Scenario {
  readonly name: string
  readonly conf: (dataDir: string) => ConfList
  readonly caps?: Record<string, unknown>
  /** Reference plugins cannot run it (e.g. Debian's 1.1.1 portmap has no nftables backend). */
  readonly tscniOnly?: boolean
}

const bridgeHostLocal = (dataDir: string, extra: Array<Record<string, unknown> & { type: string }> = []): ConfList => ({
  cniVersion: '1.0.0',
  name: 'benchnet',
  plugins: [
    { type: 'bridge', bridge: 'bench0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }] } },
    ...extra,
  ],
})
const PORTS = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8443, containerPort: 443, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] }

const SCENARIOS: Scenario[] = [
  { name: 'bridge+host-local (ipMasq)', conf: (d) => bridgeHostLocal(d) },
  { name: 'bridge+host-local+portmap iptables, 3 ports', conf: (d) => bridgeHostLocal(d, [{ type: 'portmap', capabilities: { portMappings: true }, backend: 'iptables' }]), caps: PORTS },
  { name: 'bridge+host-local+portmap nftables, 3 ports', conf: (d) => bridgeHostLocal(d, [{ type: 'portmap', capabilities: { portMappings: true }, backend: 'nftables' }]), caps: PORTS, tscniOnly: true },
]

interface Timing { add: number[]; del: number[] }

async function measure(impl: 'tscni' | 'reference', binDir: string, scenario: Scenario, pool: NetnsPool): Promise<Timing> {
  const host = await pool.create('tscni-bench')
  const dataDir = mkdtempSync(join(tmpdir(), 'tscni-bench-data-'))
  try {
    const conf = scenario.conf(dataDir)
    if (impl === 'reference') for (const p of conf.plugins) delete p.backend // Debian's reference portmap predates the option
    const runtime = new CniRuntime(conf, { binDir, hostNetns: host.name, env: { TSCNI_STATE_DIR: join(dataDir, 'state') } })
    const timing: Timing = { add: [], del: [] }
    for (let i = 0; i < ROUNDS; i++) {
      const ctr = await pool.create('tscni-bench-c')
      const att = { containerId: `bench-${i}`, netns: ctr.path, ifname: 'eth0', ...(scenario.caps ? { capabilityArgs: scenario.caps } : {}) }
      let t = performance.now()
      await runtime.add(att)
      timing.add.push(performance.now() - t)
      t = performance.now()
      await runtime.del(att)
      timing.del.push(performance.now() - t)
    }
    return timing
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function versionTime(file: string): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < ROUNDS * 2; i++) {
    const t = performance.now()
    await execa(file, [], { env: { CNI_COMMAND: 'VERSION' }, extendEnv: false })
    out.push(performance.now() - t)
  }
  return out
}

// Mean without the slowest 10% (first-run page-cache effects), in ms.
function mean(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b).slice(0, Math.max(1, Math.ceil(values.length * 0.9)))
  return sorted.reduce((a, b) => a + b, 0) / sorted.length
}

function row(label: string, ours: number, ref: number | undefined): string {
  const ratio = ref === undefined ? '   (n/a)' : `${(ours / ref).toFixed(2)}x`.padStart(8)
  return `${label.padEnd(58)} ${ours.toFixed(1).padStart(8)} ${(ref === undefined ? '-' : ref.toFixed(1)).padStart(10)} ${ratio}`
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces)')
  if (!existsSync(join(REFERENCE_DIR, 'bridge'))) throw new Error(`reference plugins missing in ${REFERENCE_DIR} (apt-get install containernetworking-plugins)`)
  const binDir = mkdtempSync(join(tmpdir(), 'tscni-bench-bin-'))
  copyFileSync(resolve('dist/tscni'), join(binDir, 'tscni'))
  for (const name of ['bridge', 'host-local', 'portmap']) symlinkSync('tscni', join(binDir, name))
  const pool = new NetnsPool()
  const only = process.env.BENCH_ONLY
  try {
    console.log(`tscni vs reference plugins (${REFERENCE_DIR}), ${ROUNDS} rounds each, mean ms (slowest 10% dropped); ratio = tscni / reference, below 1 is faster\n`)
    console.log(`${'operation'.padEnd(58)} ${'tscni'.padStart(8)} ${'reference'.padStart(10)} ${'ratio'.padStart(8)}`)
    console.log(row('VERSION (process start-up)', mean(await versionTime(join(binDir, 'bridge'))), mean(await versionTime(join(REFERENCE_DIR, 'bridge')))))
    for (const scenario of SCENARIOS) {
      if (only && !scenario.name.includes(only)) continue
      const ours = await measure('tscni', binDir, scenario, pool)
      const ref = scenario.tscniOnly ? undefined : await measure('reference', REFERENCE_DIR, scenario, pool)
      console.log(row(`${scenario.name}: ADD`, mean(ours.add), ref && mean(ref.add)))
      console.log(row(`${scenario.name}: DEL`, mean(ours.del), ref && mean(ref.del)))
      await pool.cleanup()
    }
  } finally {
    await pool.cleanup()
    rmSync(binDir, { recursive: true, force: true })
  }
}

await main()
