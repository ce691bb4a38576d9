// portmap/handlers.ts with a fake firewall and a fake System: pass-through, ensure, route_localnet, conntrack,
// rollback, DEL without mappings, CHECK, GC and STATUS.
import { describe, expect, it } from 'vitest'
import type { BackendProbe, FirewallBackend } from '../../../src/firewall/backend.ts'
import type { FirewallIntent, Owner, PortmapIntent } from '../../../src/firewall/model.ts'
import type { Firewall } from '../../../src/firewall/select.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { parseEnv, type Verb } from '../../../src/plugin/env.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace, type Context } from '../../../src/plugin/role.ts'
import { createPortmap } from '../../../src/portmap/handlers.ts'
import { asyncErrorOf } from '../../support/errors.ts'
import { createFakeSystem, type FakeSystem } from '../../support/fake-system.ts'

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: '0a:00:00:00:00:01' }, { name: 'vethx', mac: '0a:00:00:00:00:02' }, { name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: '/run/netns/c1' }],
  ips: [{ address: '10.47.0.5/16', gateway: '10.47.0.1', interface: 2 }, { address: 'fd47::5/64', gateway: 'fd47::1', interface: 2 }],
}
const MAPPINGS = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }]

interface FwLog { calls: string[]; intents: FirewallIntent[]; owners: Owner[] }

function fakeFirewall(log: FwLog, opts: { probe?: BackendProbe; failEnsure?: boolean; failRemove?: 'iptables' | 'nftables' } = {}): Firewall {
  const backend = (name: 'iptables' | 'nftables'): FirewallBackend => ({
    name,
    ensure: async (intent) => { log.calls.push(`${name}.ensure`); log.intents.push(intent); if (opts.failEnsure) throw new Error('nft: Operation not supported') },
    remove: async (kind, owner) => { log.calls.push(`${name}.remove:${kind}`); log.owners.push(owner); if (opts.failRemove === name) throw new Error(`${name} broken`) },
    verify: async (intent) => { log.calls.push(`${name}.verify`); log.intents.push(intent) },
    gc: async (kind, network, valid) => void log.calls.push(`${name}.gc:${kind}:${network}:${valid.map((o) => `${o.containerId}/${o.ifname}`).join(',')}`),
  })
  const probe = opts.probe ?? { iptables: true, nftables: true }
  return {
    select: async (configured) => { log.calls.push(`select:${configured ?? 'auto'}`); return backend(configured ?? 'iptables') },
    usable: async () => [...(probe.iptables ? [backend('iptables')] : []), ...(probe.nftables ? [backend('nftables')] : [])],
    // The real one returns both and skips an unusable one after a failed removal: the same effect.
    removable: () => [...(probe.iptables ? [backend('iptables')] : []), ...(probe.nftables ? [backend('nftables')] : [])],
    probe: async () => probe,
  }
}

function ctxFor(verb: Verb, conf: Record<string, unknown>, sys: FakeSystem, env: Record<string, string> = {}): Context {
  const cniEnv = parseEnv(verb, { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/bin', ...env })
  const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'portmap', ...conf })
  return { env: cniEnv, conf: decodeNetConf(stdin, verb), stdin, sys, ipam: undefined as never, log: silentLogger, trace: noTrace }
}

function setup(opts: Parameters<typeof fakeFirewall>[1] = {}) {
  const log: FwLog = { calls: [], intents: [], owners: [] }
  const sys = createFakeSystem()
  const role = createPortmap({ firewall: () => fakeFirewall(log, opts) })
  return { log, sys, role }
}

describe('portmap ADD', () => {
  it('passes prevResult through untouched when there are no mappings, touching nothing', async () => {
    const { log, sys, role } = setup()
    const result = await role.add(ctxFor('ADD', { prevResult: PREV }, sys))
    expect(result.ips).toEqual(PREV.ips)
    expect(result.interfaces).toEqual(PREV.interfaces)
    expect(log.calls).toEqual([])
    expect(sys.calls).toEqual([])
  })

  it('requires prevResult (chained plugin)', async () => {
    const { sys, role } = setup()
    expect(await asyncErrorOf(role.add(ctxFor('ADD', { runtimeConfig: { portMappings: MAPPINGS } }, sys)))).toMatchObject({ code: 7, message: 'must be called as chained plugin' })
  })

  it('installs the intent for both families, enables route_localnet on the route device, flushes UDP conntrack', async () => {
    const { log, sys, role } = setup()
    sys.on('ip.routeDev', () => 'cni0')
    const result = await role.add(ctxFor('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys))
    expect(result.ips).toEqual(PREV.ips)
    // The host ports, and the node-wide loopback drop that must be in place before route_localnet opens the bridge.
    expect(log.calls).toEqual(['select:auto', 'iptables.ensure', 'iptables.ensure'])
    expect(log.intents[1]).toEqual({ kind: 'localnet-drop' })
    const intent = log.intents[0] as PortmapIntent
    expect(intent.owner).toEqual({ network: 'net1', containerId: 'c1', ifname: 'eth0' })
    expect(intent.containerV4?.prefix).toBe(16)
    expect(intent.containerV6?.prefix).toBe(64)
    // The bridge, prevResult's first host-side interface, is offered as the hint the route table confirms.
    expect(sys.callsOf('ip.routeDev').map((c) => c.args)).toEqual([['10.47.0.5', 'cni0']])
    expect(sys.callsOf('sysctl.ensure').map((c) => c.args)).toEqual([['net/ipv4/conf/cni0/route_localnet', '1']])
    expect(sys.callsOf('conntrack.flushUdpPorts').map((c) => c.args)).toEqual([[4, [5353]], [6, [5353]]])
  })

  it('skips route_localnet (and so the loopback drop) with snat off, and conntrack when no mapping is UDP', async () => {
    const { log, sys, role } = setup()
    await role.add(ctxFor('ADD', { snat: false, prevResult: PREV, runtimeConfig: { portMappings: [MAPPINGS[0]] } }, sys))
    expect(log.calls).toEqual(['select:auto', 'iptables.ensure'])
    expect(sys.callsOf('sysctl.ensure')).toEqual([])
    expect(sys.callsOf('conntrack.flushUdpPorts')).toEqual([])
  })

  it('uses the configured backend', async () => {
    const { log, sys, role } = setup()
    await role.add(ctxFor('ADD', { backend: 'nftables', prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys))
    expect(log.calls.slice(0, 2)).toEqual(['select:nftables', 'nftables.ensure'])
  })

  it('removes the rules it installed when route_localnet cannot be enabled', async () => {
    const { log, sys, role } = setup()
    sys.on('ip.routeDev', () => undefined)
    const err = await asyncErrorOf(role.add(ctxFor('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys)))
    expect(err.message).toBe('unable to enable route_localnet: no route to container address 10.47.0.5')
    // The loopback drop stays: harmless, and possibly needed by other pods on the node.
    expect(log.calls).toEqual(['select:auto', 'iptables.ensure', 'iptables.ensure', 'iptables.remove:portmap'])
  })

  it('fails clearly when prevResult has no address on the container interface', async () => {
    const { sys, role } = setup()
    const prev = { ...PREV, ips: [{ address: '10.47.0.1/16', interface: 0 }] }
    expect((await asyncErrorOf(role.add(ctxFor('ADD', { prevResult: prev, runtimeConfig: { portMappings: MAPPINGS } }, sys)))).message).toContain('no address on the container interface "eth0"')
  })

  it('a failed ensure is reported, what it may have applied is removed, and no conntrack entry is flushed', async () => {
    const { log, sys, role } = setup({ failEnsure: true })
    await expect(role.add(ctxFor('ADD', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys))).rejects.toThrow('Operation not supported')
    expect(log.calls).toEqual(['select:auto', 'iptables.ensure', 'iptables.ensure', 'iptables.remove:portmap'])
    // route_localnet is never enabled without the loopback drop in place.
    expect(sys.callsOf('sysctl.ensure')).toEqual([])
    expect(sys.callsOf('conntrack.flushUdpPorts')).toEqual([])
  })

  it.each([
    [{ hostPort: 53, containerPort: 5353, protocol: 'udp' }, '(unset)'],
    [{ hostPort: 53, containerPort: 53, protocol: 'tcp', hostIP: '0.0.0.0' }, '"0.0.0.0"'],
    [{ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::' }, '"::"'],
    [{ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.53' }, '"127.0.0.53"'],
    [{ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::1' }, '"::1"'],
    [{ hostPort: 53, containerPort: 53, protocol: 'UDP', hostIP: '10.47.0.1' }, '"10.47.0.1"'],
    [{ hostPort: 53, containerPort: 53, protocol: 'tcp', hostIP: 'fd47::1' }, '"fd47::1"'],
  ])('refuses host port 53 that would shadow DNS (%j), with code 7, touching nothing', async (mapping, shown) => {
    const { log, sys, role } = setup()
    const err = await asyncErrorOf(role.add(ctxFor('ADD', { prevResult: PREV, runtimeConfig: { portMappings: [MAPPINGS[0], mapping] } }, sys)))
    expect(err).toMatchObject({ code: 7 })
    expect(err.message).toBe(`runtimeConfig.portMappings[1]: hostPort 53 (${mapping.protocol.toLowerCase()}) with hostIP ${shown} would take over DNS (the network's name server on its gateway, or the host's own resolver on loopback): publish port 53 on a specific host address instead`)
    expect(log.calls).toEqual([])
    expect(sys.calls).toEqual([])
  })

  it('allows host port 53 on a specific other host address, and sctp 53 anywhere', async () => {
    const { log, sys, role } = setup()
    await role.add(ctxFor('ADD', { prevResult: PREV, runtimeConfig: { portMappings: [{ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '192.0.2.10' }, { hostPort: 53, containerPort: 53, protocol: 'sctp' }] } }, sys))
    expect(log.calls.slice(0, 2)).toEqual(['select:auto', 'iptables.ensure'])
  })
})

describe('portmap DEL', () => {
  it('removes the owner from every usable backend without mappings, prevResult or netns', async () => {
    const { log, sys, role } = setup()
    await role.del(ctxFor('DEL', {}, sys, { CNI_NETNS: '' }))
    expect(log.calls).toEqual(['iptables.remove:portmap', 'nftables.remove:portmap'])
    expect(log.owners).toEqual([{ network: 'net1', containerId: 'c1', ifname: 'eth0' }, { network: 'net1', containerId: 'c1', ifname: 'eth0' }])
  })

  it('flushes UDP conntrack for both families when the mappings are known', async () => {
    const { sys, role } = setup()
    await role.del(ctxFor('DEL', { runtimeConfig: { portMappings: MAPPINGS } }, sys))
    expect(sys.callsOf('conntrack.flushUdpPorts').map((c) => c.args)).toEqual([[4, [5353]], [6, [5353]]])
  })

  it('still removes the rules when the config cannot be parsed', async () => {
    const { log, sys, role } = setup()
    await role.del(ctxFor('DEL', { runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 1 }] } }, sys))
    expect(log.calls).toEqual(['iptables.remove:portmap', 'nftables.remove:portmap'])
  })

  it('tries every backend and reports the failures together', async () => {
    const { log, sys, role } = setup({ failRemove: 'iptables' })
    await expect(role.del(ctxFor('DEL', {}, sys))).rejects.toThrow('portmap DEL failed: iptables: iptables broken')
    expect(log.calls).toEqual(['iptables.remove:portmap', 'nftables.remove:portmap'])
  })

  it('succeeds when no backend is usable (nothing can be installed either)', async () => {
    const { log, sys, role } = setup({ probe: { iptables: false, nftables: false } })
    await role.del(ctxFor('DEL', {}, sys))
    expect(log.calls).toEqual([])
  })
})

describe('portmap CHECK, GC, STATUS', () => {
  it('CHECK requires prevResult and verifies the intent', async () => {
    const { log, sys, role } = setup()
    expect((await asyncErrorOf(role.check(ctxFor('CHECK', { runtimeConfig: { portMappings: MAPPINGS } }, sys)))).message).toBe('Required prevResult missing')
    await role.check(ctxFor('CHECK', { prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys))
    // The host ports, then the loopback drop route_localnet relies on.
    expect(log.calls).toEqual(['select:auto', 'iptables.verify', 'iptables.verify'])
    expect(log.intents[1]).toEqual({ kind: 'localnet-drop' })
    log.calls.length = 0
    await role.check(ctxFor('CHECK', { snat: false, prevResult: PREV, runtimeConfig: { portMappings: MAPPINGS } }, sys))
    expect(log.calls).toEqual(['select:auto', 'iptables.verify'])
  })

  it('CHECK without mappings does nothing', async () => {
    const { log, sys, role } = setup()
    await role.check(ctxFor('CHECK', { prevResult: PREV }, sys))
    expect(log.calls).toEqual([])
  })

  it('GC passes the valid attachments to every usable backend; an absent list does nothing', async () => {
    const { log, sys, role } = setup()
    await role.gc(ctxFor('GC', { cniVersion: '1.1.0' }, sys))
    expect(log.calls).toEqual([])
    await role.gc(ctxFor('GC', { cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }] }, sys))
    expect(log.calls).toEqual(['iptables.gc:portmap:net1:c2/eth0', 'nftables.gc:portmap:net1:c2/eth0'])
  })

  it('STATUS is 50 when no backend (or not the configured one) is usable', async () => {
    const none = setup({ probe: { iptables: false, nftables: false } })
    expect((await asyncErrorOf(none.role.status(ctxFor('STATUS', { cniVersion: '1.1.0' }, none.sys)))).code).toBe(50)
    const nftOnly = setup({ probe: { iptables: false, nftables: true } })
    await nftOnly.role.status(ctxFor('STATUS', { cniVersion: '1.1.0' }, nftOnly.sys))
    expect((await asyncErrorOf(nftOnly.role.status(ctxFor('STATUS', { cniVersion: '1.1.0', backend: 'iptables' }, nftOnly.sys)))).message).toContain('iptables is not usable')
  })
})
