// Concurrency and interoperability: 64 simultaneous ADDs/DELs, and the reference host-local sharing one dataDir
// (each sees, skips and releases the other's reservations; both honour the same flock; no duplicate ever).
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { firstIp, hostLocal, hostLocalOk, ipamConfig, netFiles, REFERENCE_DIR, reservations, TempDirs, type Impl } from '../support/host-local.ts'

const temp = new TempDirs()
afterEach(() => temp.cleanup())

const ids = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

function expectDistinctAndOwned(dataDir: string, results: Array<{ id: string; ip: string }>): void {
  const ips = results.map((r) => r.ip)
  expect(new Set(ips).size).toBe(ips.length)
  const files = reservations(dataDir)
  expect(Object.keys(files).sort()).toEqual([...ips].sort())
  for (const r of results) expect(files[r.ip]).toBe(`${r.id}\r\neth0`)
}

describe('64 concurrent invocations on one network', () => {
  it('64 ADDs started at once get 64 different addresses; 64 DELs leave only lock and last_reserved_ip.*', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { ranges: [[{ subnet: '10.64.0.0/24' }], [{ subnet: '2001:db8:64::/64' }]] })
    const containers = ids(64, 'ctr')
    const adds = await Promise.all(containers.map((id) => hostLocalOk('tscni', 'ADD', config, id)))
    expectDistinctAndOwned(
      dataDir,
      adds.flatMap((reply, i) => [
        { id: containers[i]!, ip: firstIp(reply, 0) },
        { id: containers[i]!, ip: firstIp(reply, 1) },
      ]),
    )
    await Promise.all(containers.map((id) => hostLocalOk('tscni', 'DEL', config, id)))
    expect(Object.keys(netFiles(dataDir))).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock'])
  })
})

describe('interop with the reference host-local (Debian containernetworking-plugins)', () => {
  it('is installed', () => {
    expect(existsSync(join(REFERENCE_DIR, 'host-local'))).toBe(true)
  })

  it.each<[Impl, Impl]>([
    ['reference', 'tscni'],
    ['tscni', 'reference'],
  ])('%s reserves, %s sees it (skips it, continues round-robin, CHECKs and releases it)', async (first, second) => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { ranges: [[{ subnet: '10.8.0.0/29' }], [{ subnet: '2001:db8:8::/64' }]] })
    const a = await hostLocalOk(first, 'ADD', config, 'ctrA')
    expect(a.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.8.0.2/29', '2001:db8:8::2/64'])
    // The second implementation skips the first one's addresses and continues after its last_reserved_ip.
    const b = await hostLocalOk(second, 'ADD', config, 'ctrB')
    expect(b.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.8.0.3/29', '2001:db8:8::3/64'])
    // Each CHECKs and DELs what the other reserved.
    await hostLocalOk(second, 'CHECK', config, 'ctrA')
    await hostLocalOk(first, 'CHECK', config, 'ctrB')
    await hostLocalOk(second, 'DEL', config, 'ctrA')
    expect(Object.keys(reservations(dataDir)).sort()).toEqual(['10.8.0.3', '2001:db8:8::3'])
    await hostLocalOk(first, 'DEL', config, 'ctrB')
    expect(Object.keys(netFiles(dataDir))).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock'])
  })

  it('the reference refuses an address we reserved when it is requested, and we refuse its', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { subnet: '10.8.1.0/24' })
    await hostLocalOk('tscni', 'ADD', config, 'ctrA', { args: 'IP=10.8.1.10' })
    await hostLocalOk('reference', 'ADD', config, 'ctrB', { args: 'IP=10.8.1.11' })
    const ref = await hostLocal('reference', 'ADD', config, 'ctrC', { args: 'IP=10.8.1.10' })
    expect(ref.json.msg).toContain('requested IP address 10.8.1.10 is not available')
    const ours = await hostLocal('tscni', 'ADD', config, 'ctrD', { args: 'IP=10.8.1.11' })
    expect(ours.json.msg).toBe('failed to allocate for range 0: requested IP address 10.8.1.11 is not available in range set 10.8.1.1-10.8.1.254')
  })

  it('we release a legacy id-only file the way the reference does', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { subnet: '10.8.2.0/24' })
    await hostLocalOk('reference', 'ADD', config, 'other')
    writeFileSync(join(dataDir, 'testnet', '10.8.2.50'), 'old')
    await hostLocalOk('tscni', 'DEL', config, 'old')
    expect(Object.keys(reservations(dataDir))).toEqual(['10.8.2.2'])
  })

  it('both wait for the same flock on <dataDir>/<network>/lock', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { subnet: '10.8.3.0/24' })
    await hostLocalOk('tscni', 'ADD', config, 'warmup') // creates the network directory and the lock file
    const lockFile = join(dataDir, 'testnet', 'lock')
    for (const impl of ['tscni', 'reference'] as const) {
      // flock(1) holds the lock for 1 s, exactly as another host-local would.
      const holder = spawn('flock', ['--exclusive', lockFile, '-c', 'echo held; sleep 1'], { stdio: ['ignore', 'pipe', 'inherit'] })
      const closed = new Promise((resolve) => holder.once('close', resolve))
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()))
      const started = performance.now()
      await hostLocalOk(impl, 'ADD', config, `waiter-${impl}`)
      const waited = performance.now() - started
      await closed
      expect(waited).toBeGreaterThan(700)
    }
  })

  it('concurrent ADDs from both implementations fill a 64-address range exactly, without a duplicate; then both DEL', async () => {
    const dataDir = temp.make()
    // 64 addresses, the gateway (.1) outside the range: every ADD must succeed and together they use every address.
    const config = ipamConfig(dataDir, { subnet: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.73' })
    const plan = ids(64, 'mix').map((id, i) => ({ id, impl: (i % 2 === 0 ? 'tscni' : 'reference') as Impl }))
    const replies = await Promise.all(plan.map((p) => hostLocalOk(p.impl, 'ADD', config, p.id)))
    const results = replies.map((reply, i) => ({ id: plan[i]!.id, ip: firstIp(reply) }))
    expectDistinctAndOwned(dataDir, results)
    expect(results.map((r) => Number(r.ip.split('.')[3])).sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => 10 + i))
    const full = await hostLocal('reference', 'ADD', config, 'one-too-many')
    expect(full.json.msg).toContain('no IP addresses available in range set: 10.9.0.10-10.9.0.73')
    // DEL crosswise: each implementation releases the other's reservations.
    await Promise.all(plan.map((p) => hostLocalOk(p.impl === 'tscni' ? 'reference' : 'tscni', 'DEL', config, p.id)))
    expect(reservations(dataDir)).toEqual({})
  })
})
