// bridge/handlers.ts with a fake System: step order, rollback after a failure at every step, DEL tolerance,
// CHECK, GC and STATUS sequencing.
import { describe, expect, it } from 'vitest'
import { createBridge } from '../../../src/bridge/handlers.ts'
import type { FirewallFactory } from '../../../src/firewall/select.ts'
import type { FirewallBackend } from '../../../src/firewall/backend.ts'
import { recordedRules } from '../../../src/firewall/intent-json.ts'
import { formatCidr, parseCidr } from '../../../src/plugin/addr.ts'
import type { RecordKey } from '../../../src/plugin/attachment-record.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import type { Delegate } from '../../../src/plugin/role.ts'
import { parseEnv } from '../../../src/plugin/env.ts'
import { hostVethName } from '../../../src/plugin/ids.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace, type Context } from '../../../src/plugin/role.ts'
import type { Result } from '../../../src/plugin/result.ts'
import { createFakeSystem, FakeError, type FakeSystem } from '../../support/fake-system.ts'

const NETNS = '/run/netns/c1'
const VETH = hostVethName('net1', 'c1', 'eth0')
const BASE = { cniVersion: '1.0.0', name: 'net1', type: 'bridge', isDefaultGateway: true, ipam: { type: 'host-local' } }

type Log = string[]

function fakeIpam(log: Log, opts: { failAdd?: boolean; failDel?: boolean } = {}): Delegate {
  const result: Result = { cniVersion: '1.0.0', ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1' }, { address: 'fd22::5/64', gateway: 'fd22::1' }] }
  return {
    add: async () => { log.push('ipam.add'); if (opts.failAdd) throw new Error('pool exhausted'); return result },
    del: async () => { log.push('ipam.del'); if (opts.failDel) throw new Error('store unreadable') },
    check: async () => void log.push('ipam.check'),
    gc: async () => void log.push('ipam.gc'),
    status: async () => void log.push('ipam.status'),
  }
}

function fakeFirewall(log: Log, opts: { failEnsure?: boolean; failRemove?: boolean; backends?: Array<'iptables' | 'nftables'> } = {}): FirewallFactory {
  const backend = (name: 'iptables' | 'nftables'): FirewallBackend => ({
    name,
    ensure: async () => { log.push(`${name}.ensure`); if (opts.failEnsure) throw new Error('iptables-restore failed') },
    // With the record's intents: the kinds and first addresses they hold, so a test sees what DEL handed over.
    remove: async (_kind, _owner, recorded) => { log.push(recorded ? `${name}.remove:${recorded.map((i) => (i.kind === 'masquerade' ? i.addresses.map((a) => formatCidr(a)).join('+') : i.kind)).join(',')}` : `${name}.remove`); if (opts.failRemove) throw new Error('nft failed') },
    verify: async () => void log.push(`${name}.verify`),
    gc: async (_kind, _net, valid) => void log.push(`${name}.gc:${valid.map((o) => o.containerId).join(',')}`),
  })
  return () => ({
    select: async (configured) => backend(configured ?? 'iptables'),
    usable: async () => (opts.backends ?? ['iptables', 'nftables']).map(backend),
    // The real one returns both and skips an unusable one after a failed removal: the same effect.
    removable: (only) => (opts.backends ?? ['iptables', 'nftables']).filter((n) => !only || only.includes(n)).map(backend),
    probe: async () => ({ iptables: (opts.backends ?? ['iptables']).includes('iptables'), nftables: (opts.backends ?? ['nftables']).includes('nftables') }),
  })
}

function ctxFor(sys: FakeSystem, ipam: Delegate, verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', conf: Record<string, unknown>, netns = NETNS): Context {
  const stdin = JSON.stringify(conf)
  const env = parseEnv(verb, { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' })
  return { env, conf: decodeNetConf(stdin, verb), stdin, sys, ipam, log: silentLogger, trace: noTrace }
}

let macCounter = 0
const deps = (log: Log, fw = {}) => ({ firewall: fakeFirewall(log, fw), sleep: async () => undefined, randomMac: () => `02:00:00:00:00:${(++macCounter % 256).toString(16).padStart(2, '0')}` })

const batches = (sys: FakeSystem) => sys.callsOf('ip.batch').map((c) => ({ ops: c.args[0] as Array<{ op: string; name?: string }>, netns: (c.args[1] as { netns?: string } | undefined)?.netns }))

describe('ADD sequencing', () => {
  it('IPAM first, one host batch, one container batch, then the firewall; a full result', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    const result = await createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', { ...BASE, ipMasq: true }))
    expect(log).toEqual(['ipam.add', 'iptables.ensure'])
    const b = batches(sys)
    expect(b.map((x) => x.netns)).toEqual([undefined, NETNS])
    expect(b[0]!.ops.map((o) => o.op)).toEqual(['bridge-add', 'link-set', 'addr-add', 'addr-add', 'veth-add', 'link-set'])
    expect(sys.callsOf('exec.run')).toEqual([]) // no stray processes
    expect(result.interfaces!.map((i) => i.name)).toEqual(['cni0', VETH, 'eth0'])
    expect(result.ips!.every((ip) => ip.interface === 2)).toBe(true)
    expect(sys.callsOf('sysctl.ensure').map((c) => c.args[0])).toEqual(['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding'])
  })

  it('refuses a CNI_NETNS that is not a namespace before doing anything', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('netns.state', () => 'not-netns')
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE))).rejects.toThrow(`failed to open netns "${NETNS}": not a network namespace`)
    expect(log).toEqual([])
  })

  it('re-plans when a parallel ADD created the bridge first (EEXIST before the veth)', async () => {
    const log: Log = []
    let first = true
    const sys = createFakeSystem().on('ip.batch', () => {
      if (first) { first = false; throw new FakeError('File exists', { index: 0, exists: true, noDevice: false }) }
    })
    await createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE))
    expect(sys.callsOf('ip.links').length).toBe(2)
    expect(log).toEqual(['ipam.add'])
  })

  it('an existing CNI_IFNAME in the container is an error naming it, and the addresses are released', async () => {
    const log: Log = []
    const sys = createFakeSystem()
      .on('ip.batch', (ops: Array<{ op: string }>) => { const i = ops.findIndex((o) => o.op === 'veth-add'); if (i >= 0) throw new FakeError('File exists', { index: i, exists: true, noDevice: false }) })
      .on('ip.links', (o: { dev?: string; netns?: string }) => (o.netns ? [{ ifindex: 2, ifname: 'eth0', addrs: [] }] : []))
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE))).rejects.toThrow(`container interface "eth0" already exists in ${NETNS}`)
    expect(log).toEqual(['ipam.add', 'ipam.del'])
    expect(batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del'))).toBe(false) // the existing eth0 is not ours
  })
})

describe('ADD waits for the bridge port', () => {
  const portStates = (states: string[]) => createFakeSystem().on('sysctl.linkAttr', (name: string, attr: string) =>
    name === VETH && attr === 'operstate' ? states.shift() ?? states.at(-1) ?? 'down' : undefined)
  const sleeping = (slept: number[]) => ({ ...deps([]), sleep: async (ms: number) => void slept.push(ms) })

  it('polls the host veth within milliseconds, not after 50 ms, while it is not yet up', async () => {
    const slept: number[] = []
    const sys = portStates(['down', 'down', 'down', 'up'])
    await createBridge(sleeping(slept)).add(ctxFor(sys, fakeIpam([]), 'ADD', BASE))
    expect(slept).toEqual([1, 2, 4])
  })

  it('gives up after the reference\'s 2.55 s with an error naming the state, and rolls back', async () => {
    const slept: number[] = []
    const log: Log = []
    const sys = portStates(['down'])
    await expect(createBridge(sleeping(slept)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE))).rejects.toThrow(/bridge port in error state: down/)
    expect(slept.reduce((a, b) => a + b, 0)).toBe(2550)
    expect(Math.max(...slept.slice(0, -2))).toBe(20)
    expect(log).toContain('ipam.del')
  })
})

describe('ADD refuses before acting', () => {
  it('a repeated ADD of a live attachment (its host veth exists) fails before IPAM, so its addresses stay reserved', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('sysctl.linkAttr', (name: string, attr: string) => (name === VETH && attr === 'ifindex' ? '7' : undefined))
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE))).rejects.toThrow(`container c1 is already attached to network net1 as eth0 (host interface ${VETH} exists)`)
    expect(log).toEqual([])
    expect(sys.callsOf('ip.batch')).toEqual([])
  })

  it.each(['/run/netns/a b', '/run/netns/x#y', '/run/netns/"q'])('a CNI_NETNS that would split an ip -batch line (%j) is refused with code 4', async (netns) => {
    const log: Log = []
    const sys = createFakeSystem()
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', BASE, netns))).rejects.toMatchObject({ code: 4, details: netns })
    expect(sys.calls).toEqual([])
  })

  it.each(['0.1.0', '0.2.0'])('an L2 bridge with cniVersion %s (no way to print its result) is refused before any change', async (cniVersion) => {
    const log: Log = []
    const sys = createFakeSystem()
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', { cniVersion, name: 'net1', type: 'bridge' }))).rejects.toThrow(`no address to report in cniVersion ${cniVersion}`)
    expect(sys.calls).toEqual([])
  })
})

describe('VLAN gateway pair created by a failing ADD', () => {
  const VLAN = { ...BASE, isGateway: true, vlan: 100 }
  const containerVethAt = (ops: Array<{ op: string; b?: { netns?: string } }>) => ops.findIndex((o) => o.op === 'veth-add' && o.b?.netns !== undefined)

  it('is deleted when the host batch fails after creating it (its VLAN would never be set)', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('ip.batch', (ops: Array<{ op: string; b?: { netns?: string } }>) => {
      const i = containerVethAt(ops)
      if (i >= 0) throw new FakeError('Invalid argument', { index: i, exists: false, noDevice: false })
    })
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', VLAN))).rejects.toMatchObject({ code: 999, message: `create veth pair ${VETH} / eth0: Invalid argument` })
    expect(batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del' && o.name === 'cni0.100'))).toBe(true)
  })

  it('is deleted when setting its VLAN fails', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('ip.vlans', () => { throw new FakeError('Operation not supported') })
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', VLAN))).rejects.toMatchObject({ code: 999, message: `set VLANs on ${VETH}: Operation not supported` })
    expect(batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del' && o.name === 'cni0.100'))).toBe(true)
  })

  it('an existing gateway pair is left alone when a later ADD fails', async () => {
    const log: Log = []
    const sys = createFakeSystem()
      .on('ip.links', (o: { dev?: string }) => (o.dev === 'cni0.100' ? [{ ifindex: 9, ifname: 'cni0.100', address: '02:00:00:00:01:00', addrs: [{ local: '10.22.0.1', prefixlen: 16, family: 'inet' }] }] : []))
      .on('ip.vlans', () => { throw new FakeError('Operation not supported') })
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', VLAN))).rejects.toMatchObject({ code: 999, message: `set VLANs on ${VETH}: Operation not supported` })
    expect(batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del' && o.name === 'cni0.100'))).toBe(false)
  })
})

describe('ADD rollback after a failure at each step', () => {
  const conf = { ...BASE, ipMasq: true, macspoofchk: true, vlanTrunk: [{ id: 7 }] }
  const successCalls = createFakeSystem()

  it('a successful ADD makes exactly these system calls, in this order (the steps the next test fails one by one)', async () => {
    const log: Log = []
    await createBridge(deps(log)).add(ctxFor(successCalls, fakeIpam(log), 'ADD', conf))
    expect(successCalls.calls.map((c) => c.method)).toEqual([
      'netns.state', 'sysctl.linkAttr', 'ip.links', 'sysctl.linkAttr', 'ip.batch', 'ip.vlans', 'sysctl.set', 'sysctl.set',
      'sysctl.ensure', 'sysctl.ensure', 'ip.batch', 'sysctl.linkAttr', 'netfilter.nftApply',
    ])
    expect(log).toEqual(['ipam.add', 'iptables.ensure'])
  })

  it('every failing system call leaves nothing of the attachment behind', async () => {
    const log0: Log = []
    const probe = createFakeSystem()
    await createBridge(deps(log0)).add(ctxFor(probe, fakeIpam(log0), 'ADD', conf))
    const total = probe.calls.length
    let failures = 0
    for (let n = 1; n <= total; n++) {
      const log: Log = []
      const sys = createFakeSystem().failCall(n)
      const outcome = await createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log), 'ADD', conf)).then(() => 'ok', (err: Error) => err.message)
      const failed = sys.calls[n - 1]!
      if (outcome === 'ok') {
        // Only best-effort writes may fail without failing ADD; nothing is undone then.
        expect(failed.method === 'sysctl.set' || failed.method === 'sysctl.linkAttr', `call ${n} ${failed.method}`).toBe(true)
        continue
      }
      failures++
      const firstBatch = sys.calls.findIndex((c) => c.method === 'ip.batch')
      // A host batch failing at an unknown line may have created the veth, so it is deleted then too.
      const hostBatchDone = firstBatch >= 0 && firstBatch <= n - 1
      const vethDeleted = batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del' && o.name === VETH))
      expect(vethDeleted, `call ${n} (${failed.method}): veth deleted`).toBe(hostBatchDone)
      if (log.includes('ipam.add')) expect(log, `call ${n}: IPAM released`).toContain('ipam.del')
      if (log.includes('iptables.ensure')) expect(log, `call ${n}: masquerade removed`).toContain('iptables.remove')
      const setup = sys.calls.findIndex((c) => c.method === 'netfilter.nftApply')
      const teardownAsked = sys.calls.some((c) => c.method === 'netfilter.nftList')
      expect(teardownAsked, `call ${n}: spoof check removed`).toBe(setup >= 0)
    }
    expect(failures).toBe(11) // of the 13 calls above, all but two best-effort sysctl calls fail ADD
  })

  it('a failing IPAM ADD touches nothing', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    await expect(createBridge(deps(log)).add(ctxFor(sys, fakeIpam(log, { failAdd: true }), 'ADD', conf))).rejects.toThrow('pool exhausted')
    expect(batches(sys)).toEqual([])
  })

  it('a failing masquerade set-up deletes the veth, removes the rules and releases the addresses', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    await expect(createBridge(deps(log, { failEnsure: true })).add(ctxFor(sys, fakeIpam(log), 'ADD', conf))).rejects.toThrow('set up ipMasq with iptables: iptables-restore failed')
    expect(log).toEqual(['ipam.add', 'iptables.ensure', 'iptables.remove', 'ipam.del'])
    expect(batches(sys).at(-1)!.ops).toEqual([{ op: 'link-del', name: VETH }])
  })
})

describe('DEL', () => {
  it('with the netns: deletes CNI_IFNAME inside it, releases IPAM, removes masquerade in every usable backend', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    await createBridge(deps(log)).del(ctxFor(sys, fakeIpam(log), 'DEL', { ...BASE, ipMasq: true }))
    expect(batches(sys)).toEqual([{ ops: [{ op: 'link-del', name: 'eth0' }], netns: NETNS }])
    expect(log.sort()).toEqual(['ipam.del', 'iptables.remove', 'nftables.remove'])
  })

  it('with a record of the ADD: removes masquerade only from the backend and families it names', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    const ctx = ctxFor(sys, fakeIpam(log), 'DEL', { ...BASE, ipMasq: true })
    const masq = { kind: 'masquerade' as const, owner: { network: BASE.name, containerId: 'c1', ifname: 'eth0' }, addresses: [parseCidr('10.22.0.5/16')!] }
    const rules = recordedRules([{ backend: 'nftables', intent: masq }])
    const keyOf = (k: RecordKey) => `${k.role}/${k.network}/${k.containerId}/${k.ifname}`
    const asked: string[] = []
    const records = { write: () => undefined, remove: () => undefined, prune: () => [], assertWritable: () => undefined,
      read: (k: RecordKey) => (asked.push(keyOf(k)), { version: 1 as const, ...k, netns: NETNS, config: {}, rules, createdAt: '' }) }
    await createBridge(deps(log)).del({ ...ctx, records })
    expect(asked).toEqual([`bridge/${BASE.name}/c1/eth0`])
    expect(log.sort()).toEqual(['ipam.del', 'nftables.remove:10.22.0.5/16'])
  })

  it.each([['empty', ''], ['missing', '/run/netns/gone']])('with a %s CNI_NETNS: deletes the host veth by its name', async (_n, netns) => {
    const log: Log = []
    const sys = createFakeSystem().on('netns.state', () => 'missing')
    await createBridge(deps(log)).del(ctxFor(sys, fakeIpam(log), 'DEL', { ...BASE, ipMasq: true }, netns))
    expect(batches(sys)).toEqual([{ ops: [{ op: 'link-del', name: VETH }], netns: undefined }])
    expect(log).toContain('ipam.del')
    expect(log).toContain('iptables.remove')
  })

  it('already gone everywhere: succeeds', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('ip.batch', () => { throw new FakeError('Cannot find device', { exists: false, noDevice: true }) })
    await createBridge(deps(log)).del(ctxFor(sys, fakeIpam(log), 'DEL', BASE))
    expect(batches(sys).length).toBe(2)
  })

  it('collects every error and still does every step', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    const err = await createBridge(deps(log, { failRemove: true })).del(ctxFor(sys, fakeIpam(log, { failDel: true }), 'DEL', { ...BASE, ipMasq: true })).catch((e: Error) => e)
    expect((err as Error).message).toContain('release IPAM addresses: store unreadable')
    expect((err as Error).message).toContain('remove ipMasq rules: nft failed')
    expect(batches(sys).length).toBe(1)
  })

  it('tears down a config that ADD refuses (bad MAC, mtu out of range, hairpin with promisc)', async () => {
    const log: Log = []
    const sys = createFakeSystem()
    const conf = { ...BASE, ipMasq: true, mtu: 70000, hairpinMode: true, promiscMode: true, runtimeConfig: { mac: 'not-a-mac' } }
    await createBridge(deps(log)).del(ctxFor(sys, fakeIpam(log), 'DEL', conf))
    expect(log).toEqual(expect.arrayContaining(['ipam.del', 'iptables.remove', 'nftables.remove']))
    expect(batches(sys).some((b) => b.ops.some((o) => o.op === 'link-del'))).toBe(true)
  })

  it('a MAC spoof-check teardown that cannot run (nft missing) does not fail DEL', async () => {
    const log: Log = []
    const sys = createFakeSystem().on('netfilter.nftList', () => { throw new Error('cannot run nft: spawn nft ENOENT') })
    await createBridge(deps(log)).del(ctxFor(sys, fakeIpam(log), 'DEL', { ...BASE, macspoofchk: true }))
    expect(log).toContain('ipam.del')
  })

  it('L2: no IPAM DEL', async () => {
    const log: Log = []
    await createBridge(deps(log)).del(ctxFor(createFakeSystem(), fakeIpam(log), 'DEL', { cniVersion: '1.0.0', name: 'net1', type: 'bridge' }))
    expect(log).toEqual([])
  })
})

describe('CHECK, GC, STATUS', () => {
  it('CHECK needs prevResult', async () => {
    const log: Log = []
    await expect(createBridge(deps(log)).check(ctxFor(createFakeSystem(), fakeIpam(log), 'CHECK', { ...BASE, cniVersion: '1.0.0' }))).rejects.toThrow('Required prevResult missing')
  })
  it('L2 CHECK does not ask IPAM, and reports what differs', async () => {
    const log: Log = []
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: VETH }, { name: 'eth0', sandbox: NETNS }] }
    const err = await createBridge(deps(log)).check(ctxFor(createFakeSystem(), fakeIpam(log), 'CHECK', { cniVersion: '1.0.0', name: 'net1', type: 'bridge', prevResult })).catch((e: Error) => e)
    expect(log).toEqual([])
    expect((err as Error).message).toBe('CNI created bridge cni0 in host namespace was not found')
  })
  it('GC: IPAM GC and masquerade GC by valid attachments in every usable backend; nothing without the key', async () => {
    const log: Log = []
    const conf = { ...BASE, cniVersion: '1.1.0', ipMasq: true, 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'eth0' }] }
    await createBridge(deps(log)).gc(ctxFor(createFakeSystem(), fakeIpam(log), 'GC', conf))
    expect(log).toEqual(['ipam.gc', 'iptables.gc:a,b', 'nftables.gc:a,b'])
    const log2: Log = []
    await createBridge(deps(log2)).gc(ctxFor(createFakeSystem(), fakeIpam(log2), 'GC', { ...BASE, cniVersion: '1.1.0', ipMasq: true }))
    expect(log2).toEqual(['ipam.gc'])
  })
  it('STATUS: asks IPAM; code 50 when ipMasq has no usable backend', async () => {
    const log: Log = []
    await createBridge(deps(log)).status(ctxFor(createFakeSystem(), fakeIpam(log), 'STATUS', { ...BASE, cniVersion: '1.1.0' }))
    expect(log).toEqual(['ipam.status'])
    const err = await createBridge(deps(log, { backends: [] })).status(ctxFor(createFakeSystem(), fakeIpam(log), 'STATUS', { ...BASE, cniVersion: '1.1.0', ipMasq: true })).catch((e: { code: number }) => e)
    expect((err as { code: number }).code).toBe(50)
  })
})
