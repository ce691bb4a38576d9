// Property-based runs (fast-check) of the real executable over stdin configs, CNI_* variables and prevResult, in a
// throwaway host namespace: every run ends in exit 0 with a valid reply, or exit 1 with spec-shaped error JSON
// (numeric code, message, cniVersion) and no stack trace on stdout; a failed ADD leaves nothing, a successful one
// is DELeted and leaves nothing. CI runs a bounded number; TSCNI_STRESS_FULL=1 runs many more.
import fc from 'fast-check'
import { readdirSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'
import { reservations } from '../support/host-local.ts'
import type { TestNetns } from '../support/netns.ts'
import { ownedLines } from '../support/portmap.ts'
import { runPlugin, type PluginCall } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const RUNS = process.env.TSCNI_STRESS_FULL === '1' ? 1000 : 150

const node = useTestNode()
let host: TestNetns
let bin: string
let dataDir: string
let stateDir: string
beforeEach(() => void ({ host, bin, dataDir, stateDir } = node))

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
// Mostly sensible values with hostile ones mixed in: the interesting bugs sit next to valid input.
const anyJson = fc.jsonValue({ maxDepth: 2 })
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 })
const ident = fc.oneof(fc.constantFrom('c1', 'c2', 'abc-123', 'x.y_z'), fc.string({ maxLength: 12 }))
const ifname = fc.oneof(fc.constantFrom('eth0', 'net1'), fc.string({ maxLength: 18 }))
const subnet = fc.oneof(fc.constantFrom('10.61.0.0/24', 'fd61::/64', '10.61.0.0/30'), fc.string({ maxLength: 20 }), anyJson)
const ipam = fc.record({
  type: fc.oneof(fc.constant('tscni-host-local'), fc.constant('host-local'), anyJson),
  dataDir: fc.constant('DATA'),
  ranges: fc.oneof(fc.array(fc.array(fc.record({ subnet, rangeStart: maybe(fc.string({ maxLength: 15 })) }, { requiredKeys: ['subnet'] }), { maxLength: 2 }), { maxLength: 2 }), anyJson),
  routes: maybe(fc.oneof(fc.constant([{ dst: '0.0.0.0/0' }]), anyJson)),
}, { requiredKeys: ['type', 'dataDir'] })
const portMappings = fc.oneof(
  fc.array(fc.record({ hostPort: fc.oneof(fc.integer({ min: -2, max: 70000 }), anyJson), containerPort: fc.integer({ min: 0, max: 70000 }), protocol: maybe(fc.constantFrom('tcp', 'udp', 'sctp', 'TCP', 'icmp')) }), { maxLength: 3 }),
  anyJson,
)
const prevResult = fc.oneof(
  fc.constant({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ address: '10.61.0.5/24', interface: 0 }] }),
  fc.record({ cniVersion: fc.constantFrom(...VERSIONS), ips: fc.array(fc.record({ address: fc.string({ maxLength: 20 }), interface: maybe(fc.integer({ min: -1, max: 3 })) }), { maxLength: 2 }) }),
  anyJson,
)
const config = fc.record({
  cniVersion: fc.oneof(fc.constantFrom(...VERSIONS), fc.string({ maxLength: 6 }), anyJson),
  name: fc.oneof(fc.constant('propnet'), fc.string({ maxLength: 10 }), anyJson),
  type: fc.constantFrom('tscni-bridge', 'tscni-host-local', 'tscni-portmap'),
  bridge: maybe(fc.oneof(fc.constant('propbr0'), fc.string({ maxLength: 17 }))),
  isGateway: maybe(fc.oneof(fc.boolean(), anyJson)),
  ipMasq: maybe(fc.oneof(fc.boolean(), anyJson)),
  ipMasqBackend: maybe(fc.constantFrom('iptables', 'nftables', 'pf')),
  backend: maybe(fc.constantFrom('iptables', 'nftables', 'ipvs')),
  mtu: maybe(fc.oneof(fc.integer({ min: -1, max: 70000 }), anyJson)),
  vlan: maybe(fc.integer({ min: -1, max: 5000 })),
  ipam,
  runtimeConfig: maybe(fc.record({ portMappings }, { requiredKeys: [] })),
  prevResult: maybe(prevResult),
  extra: maybe(anyJson),
}, { requiredKeys: ['type', 'ipam'] })
const call = fc.record({
  verb: fc.constantFrom('ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION', 'BOGUS', ''),
  containerId: maybe(ident),
  ifname: maybe(ifname),
  netns: fc.constantFrom('real', 'real', '', '/nonexistent/ns', 'relative', '/proc/self/ns/net'),
  args: maybe(fc.oneof(fc.constantFrom('IgnoreUnknown=1;IP=10.61.0.9', 'K8S_POD_NAME=a'), fc.string({ maxLength: 20 }))),
  config,
  raw: fc.constantFrom(false, false, false, false, true),
  rawText: fc.string({ maxLength: 30 }),
})

describe('property: any input gives a valid reply or a spec-shaped error, and leaves nothing', () => {
  it(`${RUNS} runs`, async () => {
    const pod = await node.pool.create('tscni-c')
    const stats = { ok: 0, errors: 0 }
    await fc.assert(fc.asyncProperty(call, async (c) => {
      const conf = JSON.parse(JSON.stringify(c.config).replaceAll('"DATA"', JSON.stringify(dataDir))) as Record<string, unknown>
      conf.stateDir = stateDir
      const netns = c.netns === 'real' ? pod.path : c.netns
      const base: PluginCall = {
        role: String(conf.type), verb: c.verb as PluginCall['verb'], host, binDir: bin,
        ...(c.raw ? { stdin: c.rawText } : { config: conf }),
        containerId: c.containerId, ifname: c.ifname, netns, args: c.args,
      }
      const reply = await runPlugin(base)
      expect([0, 1], reply.stdout + reply.stderr).toContain(reply.exitCode)
      expect(reply.stdout).not.toMatch(/\n\s+at [^\n]*:\d+:\d+/)
      if (reply.exitCode === 1) {
        stats.errors++
        if (c.verb !== '') {
          expect(reply.json, reply.stdout).toMatchObject({ code: expect.any(Number), msg: expect.any(String), cniVersion: expect.any(String) })
          expect(reply.json.code).not.toBe(0)
        }
      } else {
        stats.ok++
        if (c.verb === 'ADD') expect(reply.json, reply.stdout).toMatchObject({ cniVersion: expect.any(String) })
        if (c.verb === 'VERSION') expect(reply.json.supportedVersions).toContain('1.1.0')
        // A successful ADD is undone like a runtime would, with the same inputs.
        if (c.verb === 'ADD') {
          const del = await runPlugin({ ...base, verb: 'DEL' })
          expect(del.exitCode, del.stdout).toBe(0)
        }
      }
      if (c.verb === 'ADD' || c.verb === 'DEL') {
        // Whatever happened, this attachment holds nothing now.
        const owner = c.containerId ?? ''
        const name = conf.name
        const netDir = typeof name === 'string' && name !== '' && name !== 'state' && !/^\.\.?$|\//.test(name)
        if (owner !== '' && netDir) expect(Object.values(reservations(dataDir, String(conf.name))).filter((v) => v.startsWith(`${owner.trim()}\r\n`))).toEqual([])
        expect(String((await host.exec('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout).trim()).toBe('')
      }
    }), { numRuns: RUNS, seed: process.env.TSCNI_PROPERTY_SEED ? Number(process.env.TSCNI_PROPERTY_SEED) : undefined })
    // Nothing anywhere: no reservation, record or firewall rule naming the test's addresses.
    for (const net of readdirSync(dataDir).filter((d) => d !== 'state')) expect(reservations(dataDir, net), net).toEqual({})
    expect(readdirSync(stateDir)).toEqual([])
    expect(await ownedLines(host, [/10\.61\.0\.\d|fd61::[0-9a-f]/])).toEqual([])
    console.log(`property runs: ${RUNS} (${stats.ok} succeeded, ${stats.errors} failed as specified)`)
    expect(stats.ok).toBeGreaterThan(0)
  }, 600_000)
})
