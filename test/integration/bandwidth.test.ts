// The bandwidth role through cnitool (libcni), chained after tscni's bridge with `capabilities.bandwidth`: traffic
// into and out of the container is measured and held to the configured rate; CHECK sees the qdiscs; DEL leaves no
// ifb, no qdisc and no record. Also DEL without prevResult or netns, and the refused half-pairs.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { beforeEach, describe, expect, it } from 'vitest'
import { linkNames } from '../support/bridge.ts'
import { cnitool, type CnitoolSetup } from '../support/cnitool.ts'
import type { TestNetns } from '../support/netns.ts'
import { binDir, runPlugin } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let setup: CnitoolSetup
beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-bw-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const confDir = join(dir, 'net.d')
  const varLib = join(dir, 'var-lib')
  mkdirSync(confDir)
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  for (const name of ['bandwidth', 'tuning']) symlinkSync(join(binDir(), 'tscni'), join(node.bin, name))
  setup = { host: node.host, confDir, binDir: node.bin, varLib }
})

const said = (r: { exitCode?: number; stdout: unknown; stderr: unknown }) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`

// 8 Mbit/s both ways with a small bucket (10 kB): a 2 MB transfer takes ~2 s when the limit holds.
const RATE = 8_000_000
const BURST = 80_000
const BYTES = 2_000_000

function network(name: string): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: 'bridge', bridge: 'cni-bw0', isGateway: true, ipam: { type: 'host-local', dataDir: node.dataDir, ranges: [[{ subnet: '10.93.0.0/24' }]] } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  }
}

// Seconds from the start of sending until the receiver has read everything (the receiver's clock is what counts:
// a sender's socket buffer would let it finish early).
async function timedTransfer(from: TestNetns, to: TestNetns, address: string, port: number): Promise<number> {
  const receiver = to.exec('socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, 'OPEN:/dev/null'], { timeout: 30_000 })
  await waitListening(to, port)
  const started = performance.now()
  await from.exec('sh', ['-c', `head -c ${BYTES} /dev/zero | socat -u STDIN TCP:${address}:${port}`], { timeout: 30_000 })
  await receiver
  return (performance.now() - started) / 1000
}

async function waitListening(ns: TestNetns, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await ns.exec('ss', ['-Htln', `sport = :${port}`])
    if (String(res.stdout).trim() !== '') return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on port ${port}`)
}

describe('bandwidth through cnitool', () => {
  it('holds a transfer in each direction to the configured rate, CHECK passes, and DEL leaves nothing', async () => {
    const name = 'bwnet'
    writeFileSync(join(setup.confDir, `10-${name}.conflist`), JSON.stringify(network(name)))
    const container = await node.pool.create('tscni-bw')
    const capArgs = { bandwidth: { ingressRate: RATE, ingressBurst: BURST, egressRate: RATE, egressBurst: BURST } }
    const add = await cnitool(setup, 'add', name, container.path, { capArgs })
    expect(add.exitCode, said(add)).toBe(0)
    const result = JSON.parse(String(add.stdout))
    const ifb = result.interfaces.find((i: { name: string }) => i.name.startsWith('bwp'))
    expect(ifb?.name).toMatch(/^bwp[0-9a-f]{12}$/)
    const hostVeth = result.interfaces.find((i: { name: string; sandbox?: string }) => i.name.startsWith('veth') && !i.sandbox).name
    const containerIp = result.ips[0].address.split('/')[0]
    const gateway = result.ips[0].gateway

    const qdisc = async (dev: string) => JSON.parse(String((await node.host.exec('tc', ['-j', 'qdisc', 'show', 'dev', dev])).stdout)) as Array<{ kind: string; root?: boolean; options?: { rate?: number } }>
    expect((await qdisc(hostVeth)).find((q) => q.root)).toMatchObject({ kind: 'tbf', options: { rate: RATE / 8 } })
    expect((await qdisc(hostVeth)).some((q) => q.kind === 'ingress')).toBe(true)
    expect((await qdisc(ifb.name)).find((q) => q.root)).toMatchObject({ kind: 'tbf', options: { rate: RATE / 8 } })

    const expected = (BYTES * 8) / RATE
    const into = await timedTransfer(node.host, container, containerIp, 5001)
    const outOf = await timedTransfer(container, node.host, gateway, 5002)
    console.log(`bandwidth: ${BYTES} bytes in ${into.toFixed(2)} s into the container, ${outOf.toFixed(2)} s out (expected ${expected} s)`)
    // Within 20 % of the rate: the rate measured is bytes/time, so the time lies within [1/1.2, 1/0.8] of expected.
    for (const [what, seconds] of [['into the container', into], ['out of the container', outOf]] as const) {
      const rate = (BYTES * 8) / seconds
      expect(rate, `${what}: ${seconds.toFixed(2)} s for ${BYTES} bytes (expected ~${expected} s)`).toBeGreaterThan(RATE * 0.8)
      expect(rate, `${what}: ${seconds.toFixed(2)} s for ${BYTES} bytes (expected ~${expected} s)`).toBeLessThan(RATE * 1.2)
    }

    const check = await cnitool(setup, 'check', name, container.path, { capArgs })
    expect(check.exitCode, said(check)).toBe(0)
    for (const round of ['first', 'second']) {
      const del = await cnitool(setup, 'del', name, container.path, { capArgs })
      expect(del.exitCode, `${round} DEL: ${said(del)}`).toBe(0)
    }
    expect(await linkNames(node.host)).toEqual(['cni-bw0', 'lo'])
    expect(await linkNames(container)).toEqual(['lo'])
  })
})

describe('bandwidth without cnitool', () => {
  const call = (verb: 'ADD' | 'DEL', config: Record<string, unknown>, netns = '') => runPlugin({
    role: 'bandwidth', verb, host: node.host, containerId: 'ctr-bw', netns, ifname: 'eth0', binDir: binDir(),
    config: { cniVersion: '1.0.0', name: 'bwnet', type: 'bandwidth', ...config },
  })

  it('DEL removes the ifb by its name without prevResult or netns', async () => {
    // The name the reference gives: "bwp" + sha512("bwnet" + "ctr-bw"), 15 characters.
    const ifb = `bwp${(await execa('sh', ['-c', 'printf %s bwnetctr-bw | sha512sum'])).stdout.slice(0, 12)}`
    await node.host.exec('ip', ['link', 'add', ifb, 'type', 'ifb'])
    const del = await call('DEL', {})
    expect(del.exitCode, del.stdout).toBe(0)
    expect(await linkNames(node.host)).toEqual(['lo'])
    expect((await call('DEL', {})).exitCode).toBe(0)
  })

  it.each([
    [{ ingressRate: 1000 }, 'if rate is set, burst must also be set'],
    [{ egressBurst: 1000 }, 'if burst is set, rate must also be set'],
    [{ runtimeConfig: { bandwidth: { egressRate: 1000, egressBurst: 8 * 2 ** 32 } } }, 'burst cannot be more than 4GB'],
  ])('refuses %j', async (config, msg) => {
    const reply = await call('ADD', { ...config, prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'x' }] } }, '/run/netns/absent')
    expect(reply.exitCode).not.toBe(0)
    expect(reply.json).toMatchObject({ code: 7 })
    expect(reply.json.msg).toContain(msg)
    expect(await linkNames(node.host)).toEqual(['lo'])
  })

  it('with no limits passes prevResult on without a namespace', async () => {
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'veth1' }], ips: [{ address: '10.1.0.2/24' }] }
    const reply = await call('ADD', { prevResult }, '/run/netns/absent')
    expect(reply.exitCode, reply.stdout).toBe(0)
    expect(reply.json).toEqual({ ...prevResult, dns: undefined })
  })
})

