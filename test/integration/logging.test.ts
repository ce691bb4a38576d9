// Operators' view of a call through the real executable: one JSON line per invocation in the log file (from
// TSCNI_LOG_FILE or the config's logFile), diagnostics on stderr, and stdout that stays the protocol alone.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bridgeConf } from '../support/bridge.ts'
import { runPlugin } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))

describe('invocation log', () => {
  it('TSCNI_LOG_FILE gets one line per call: role, verb, ids, outcome, addresses and the time of each step', async () => {
    const ctr = await node.pool.create('tscni-c')
    const log = join(node.dataDir, 'calls.jsonl')
    const config = bridgeConf('bridge-host-local.conflist', '1.0.0', node.dataDir)
    const call = { role: 'bridge', host: node.host, binDir: node.bin, containerId: 'log-1', netns: ctr.path, ifname: 'eth0', config, env: { TSCNI_LOG_FILE: log } }
    const add = await runPlugin({ ...call, verb: 'ADD' })
    expect(add.exitCode).toBe(0)
    await runPlugin({ ...call, verb: 'DEL' })
    const [addLine, delLine] = lines(log)
    expect(addLine).toMatchObject({ role: 'bridge', verb: 'ADD', containerId: 'log-1', ifname: 'eth0', network: 'tscni', cniVersion: '1.0.0', outcome: 'ok' })
    expect(addLine.addresses).toEqual(add.json.ips.map((ip: { address: string }) => ip.address))
    expect(addLine.steps.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['ipam add', 'plan', 'apply']))
    for (const step of addLine.steps) expect(step.ms).toBeGreaterThan(0)
    expect(addLine.ms).toBeGreaterThan(0)
    expect(delLine).toMatchObject({ verb: 'DEL', containerId: 'log-1', outcome: 'ok' })
    expect(Number.isNaN(Date.parse(addLine.time))).toBe(false)
  })

  it('the config\'s logFile records a failure with its code and message', async () => {
    const ctr = await node.pool.create('tscni-c')
    const log = join(node.dataDir, 'from-config.jsonl')
    const config = { ...bridgeConf('bridge-host-local.conflist', '1.0.0', node.dataDir), logFile: log, vlan: 5000 }
    const reply = await runPlugin({ role: 'bridge', verb: 'ADD', host: node.host, binDir: node.bin, containerId: 'log-2', netns: ctr.path, ifname: 'eth0', config })
    expect(reply.json).toMatchObject({ code: 7 })
    expect(lines(log)).toEqual([expect.objectContaining({ verb: 'ADD', containerId: 'log-2', outcome: 'error', error: { code: 7, msg: reply.json.msg } })])
  })
})

describe('diagnostics', () => {
  it('TSCNI_LOG_LEVEL=debug prints every command on stderr while stdout stays one JSON result', async () => {
    const ctr = await node.pool.create('tscni-c')
    const config = bridgeConf('bridge-host-local.conflist', '1.0.0', node.dataDir)
    // TSCNI_NETLINK is cleared: this test compares the default path with the tools, whatever the run's switch says.
    const call = { role: 'bridge', host: node.host, binDir: node.bin, containerId: 'log-3', netns: ctr.path, ifname: 'eth0', config, env: { TSCNI_LOG_LEVEL: 'debug', TSCNI_NETLINK: undefined } }
    const add = await runPlugin({ ...call, verb: 'ADD' })
    expect(add.exitCode).toBe(0)
    // The kernel work goes over netlink by default, logged with its ops as ip -batch lines; TSCNI_NETLINK=0 uses ip.
    expect(add.stderr).toMatch(/tscni-bridge debug: [\d.]+ ms: netlink .*link add name veth\w+ .*type veth peer name eth0/)
    expect(JSON.parse(add.stdout).cniVersion).toBe('1.0.0')
    // DEL removes the masquerade from the backend the ADD's record names (iptables here), without listing nft.
    const del = await runPlugin({ ...call, verb: 'DEL' })
    expect(del.exitCode).toBe(0)
    expect(del.stderr).toMatch(/ms: iptables-restore /)
    expect(del.stderr).not.toMatch(/ms: nft /)
    // ... and by the rules the record names (both families here): no listing of a chain or of the table.
    expect(del.stderr).not.toMatch(/ms: ip6?tables(-save| -w 10 -t nat -S)/)
    expect(del.stderr).toMatch(/ms: ip6tables-restore /)
    const viaTools = await runPlugin({ ...call, env: { ...call.env, TSCNI_NETLINK: '0' }, verb: 'ADD' })
    expect(viaTools.exitCode).toBe(0)
    expect(viaTools.stderr).toMatch(/tscni-bridge debug: [\d.]+ ms: ip -batch -/)
    expect(viaTools.stderr).not.toMatch(/ms: netlink /)
    await runPlugin({ ...call, verb: 'DEL' })
  })
})
