// Load and concurrency on the real kernel, in a throwaway host namespace: N attachments (bridge + host-local +
// portmap, a host port each), 8 at a time, several rounds, on an iptables network and an nftables network at the
// same time (concurrent portmap ADDs through both backends); ADDs and DELs of one bridge interleaved. Zero
// errors, zero duplicate addresses, nothing left; prints counts and durations.
// CI: 100 attachments per backend, 1 round plus the interleaved one; TSCNI_STRESS_FULL=1: 500 and 3 rounds.
import { readdirSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'
import { CniRuntime, type Attachment } from '../support/cni-runtime.ts'
import { reservations } from '../support/host-local.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, containerIps, ownedLines, portmapNetwork, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const FULL = process.env.TSCNI_STRESS_FULL === '1'
const N = FULL ? 500 : 100
const ROUNDS = FULL ? 3 : 1
const PARALLEL = 8

const node = useTestNode()
let host: TestNetns
let bin: string
let dataDir: string
let stateDir: string
beforeEach(() => void ({ host, bin, dataDir, stateDir } = node))

// Each backend gets its own network, bridge and subnet, so both run at once on one node.
const NETS: Record<Backend, { name: string; bridge: string; v4: string; v6: string; port: number }> = {
  iptables: { name: 'stress-ipt', bridge: 'stript0', v4: '10.71.0.0/16', v6: 'fd71::/64', port: 20000 },
  nftables: { name: 'stress-nft', bridge: 'strnft0', v4: '10.72.0.0/16', v6: 'fd72::/64', port: 30000 },
}

function runtime(backend: Backend): CniRuntime {
  const n = NETS[backend]
  const conf = portmapNetwork(backend, dataDir, { name: n.name, bridge: n.bridge, ranges: [[{ subnet: n.v4 }], [{ subnet: n.v6 }]] })
  return new CniRuntime(conf, { binDir: bin, hostNetns: host.name, env: { TSCNI_STATE_DIR: stateDir } })
}

// Runs `jobs` with at most `limit` at once; every failure is collected, none stops the rest.
async function inParallel<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<string[]> {
  const errors: string[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!
      await job(item).catch((err: unknown) => errors.push(String((err as Error).message ?? err).split('\n')[0]!))
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return errors
}

const ms = (start: number) => `${((performance.now() - start) / 1000).toFixed(1)} s`

async function expectNothingLeft(): Promise<void> {
  for (const backend of BACKENDS) expect(reservations(dataDir, NETS[backend].name), backend).toEqual({})
  expect(readdirSync(stateDir)).toEqual([])
  expect(String((await host.exec('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout).trim()).toBe('')
  expect(await ownedLines(host, [/10\.7[12]\.\d+\.\d+(?!\/16)|fd7[12]::[0-9a-f]+(?!\/64)/, /stress-/])).toEqual([])
}

describe('stress', () => {
  it(`${N} attachments per backend, ${PARALLEL} at a time per backend, both backends at once, ${ROUNDS} round(s), then ADD and DEL interleaved`, async () => {
    const pods = await Promise.all(BACKENDS.map(async () => {
      const list: TestNetns[] = []
      for (let i = 0; i < N; i++) list.push(await node.pool.create('tscni-s'))
      return list
    }))
    const atts = BACKENDS.map((backend, b) => pods[b]!.map((pod, i): Attachment => ({
      containerId: `stress-${backend}-${i}`, netns: pod.path, ifname: 'eth0',
      capabilityArgs: { portMappings: [{ hostPort: NETS[backend].port + i, containerPort: 80, protocol: 'tcp' }] },
    })))
    const cnis = BACKENDS.map(runtime)
    const report: string[] = []

    for (let round = 1; round <= ROUNDS; round++) {
      const addresses = BACKENDS.map(() => [] as string[])
      let t = performance.now()
      const addErrors = await Promise.all(BACKENDS.map((_, b) => inParallel(atts[b]!, PARALLEL, async (att) => {
        const ips = containerIps(await cnis[b]!.add(att))
        addresses[b]!.push(ips.v4, ips.v6)
      })))
      report.push(`round ${round}: ${2 * N} ADDs (${N} per backend) in ${ms(t)}, errors ${addErrors.flat().length}`)
      expect(addErrors.flat()).toEqual([])
      for (const list of addresses) expect(new Set(list).size).toBe(list.length) // zero duplicate addresses
      expect(readdirSync(stateDir)).toHaveLength(4 * N) // a bridge and a portmap record per attachment
      await cnis[0]!.check(atts[0]![N - 1]!)
      await cnis[1]!.check(atts[1]![N - 1]!)
      t = performance.now()
      const delErrors = await Promise.all(BACKENDS.map((_, b) => inParallel(atts[b]!, PARALLEL, (att) => cnis[b]!.del(att))))
      report.push(`round ${round}: ${2 * N} DELs in ${ms(t)}, errors ${delErrors.flat().length}`)
      expect(delErrors.flat()).toEqual([])
      await expectNothingLeft()
    }

    // ADDs and DELs of one bridge at the same time: the first half is added, then deleted while the second half
    // is added, in one queue of mixed verbs per backend.
    const half = Math.floor(N / 2)
    for (let b = 0; b < BACKENDS.length; b++) {
      const errors = await inParallel(atts[b]!.slice(0, half), PARALLEL, (att) => cnis[b]!.add(att))
      expect(errors).toEqual([])
    }
    let t = performance.now()
    const mixed = await Promise.all(BACKENDS.map((_, b) => {
      // DEL of attachment i, then ADD of attachment half + i, alternating: both verbs are in flight together.
      const interleaved: Array<{ verb: 'ADD' | 'DEL'; att: Attachment }> = []
      for (let i = 0; i < half; i++) interleaved.push({ verb: 'DEL', att: atts[b]![i]! }, { verb: 'ADD', att: atts[b]![half + i]! })
      for (let i = 2 * half; i < N; i++) interleaved.push({ verb: 'ADD', att: atts[b]![i]! })
      return inParallel(interleaved, PARALLEL, (j) => (j.verb === 'ADD' ? cnis[b]!.add(j.att).then(() => undefined) : cnis[b]!.del(j.att)))
    }))
    report.push(`interleaved: ${2 * N} ADDs and DELs (half each) in ${ms(t)}, errors ${mixed.flat().length}`)
    expect(mixed.flat()).toEqual([])
    for (let b = 0; b < BACKENDS.length; b++) {
      const held = Object.values(reservations(dataDir, NETS[BACKENDS[b]!].name)).map((v) => v.split('\r\n')[0])
      expect(new Set(held)).toEqual(new Set(atts[b]!.slice(half).map((a) => a.containerId)))
    }
    t = performance.now()
    const last = await Promise.all(BACKENDS.map((_, b) => inParallel(atts[b]!.slice(half), PARALLEL, (att) => cnis[b]!.del(att))))
    expect(last.flat()).toEqual([])
    report.push(`final DELs in ${ms(t)}`)
    await expectNothingLeft()
    console.log(`stress (${FULL ? 'full' : 'CI'} size): ${report.join('; ')}`)
  }, FULL ? 3_600_000 : 600_000)
})
