// Firewall scaling: time of ADD and DEL of one more container's port mappings with 1 vs 200 containers already
// mapped, per backend, each inside a throwaway namespace. Run as root: node bench/firewall-scale.ts [rounds]
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackendName, FirewallBackend } from '../src/firewall/backend.ts'
import { createFirewall } from '../src/firewall/select.ts'
import { silentLogger } from '../src/plugin/log.ts'
import { NetnsPool } from '../test/support/netns.ts'
import { systemInNetns } from '../test/support/system-in-netns.ts'
import { owner, portmapIntent } from '../test/support/firewall-fixtures.ts'

// 21 rounds: with 7, single runs of the few-millisecond medians swung past 1.5x on a busy 2-core machine.
const ROUNDS = Number(process.argv[2] ?? 21)
const SIZES = [1, 200]

async function measure(backend: FirewallBackend, existing: number): Promise<{ add: number; del: number }> {
  for (let i = 0; i < existing; i++) await backend.ensure(portmapIntent(owner(`fill-${i}`), i, 10000 + i))
  const adds: number[] = []
  const dels: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const intent = portmapIntent(owner(`probe-${r}`), 1000 + r, 30000 + r)
    let t = performance.now()
    await backend.ensure(intent)
    adds.push(performance.now() - t)
    t = performance.now()
    await backend.remove('portmap', intent.owner)
    dels.push(performance.now() - t)
  }
  return { add: median(adds), del: median(dels) }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const pool = new NetnsPool()
try {
  console.log(`median of ${ROUNDS} rounds, ms (ADD = ensure of a dual-stack tcp+udp mapping, DEL = remove by owner)`)
  console.log('backend    existing   ADD      DEL')
  for (const name of ['nftables', 'iptables'] as BackendName[]) {
    const results: Record<number, { add: number; del: number }> = {}
    for (const size of SIZES) {
      const ns = await pool.create('tscni-bench')
      const lockPath = join(tmpdir(), `${ns.name}.lock`)
      const fw = createFirewall(systemInNetns(ns.path), silentLogger, { lockPath })
      const backend = await fw.select(name)
      try {
        results[size] = await measure(backend, size)
      } finally {
        rmSync(lockPath, { force: true })
      }
      console.log(`${name.padEnd(10)} ${String(size).padStart(8)} ${results[size].add.toFixed(1).padStart(6)} ${results[size].del.toFixed(1).padStart(8)}`)
    }
    const [lo, hi] = [results[SIZES[0]!]!, results[SIZES[1]!]!]
    console.log(`${name.padEnd(10)} ratio 200/1: ADD ${(hi.add / lo.add).toFixed(2)}x, DEL ${(hi.del / lo.del).toFixed(2)}x`)
  }
} finally {
  await pool.cleanup()
}
