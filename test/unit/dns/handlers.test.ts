// dns/handlers.ts over a fake System (dnsmasq and netfilter) and a real temp data dir: ADD writes the entry and
// starts the server once, a failed start leaves nothing, DEL works without prevResult and stops an idle server,
// CHECK names what is missing, GC prunes, STATUS needs dnsmasq.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FirewallBackend } from '../../../src/firewall/backend.ts'
import type { Firewall } from '../../../src/firewall/select.ts'
import { createDns } from '../../../src/dns/handlers.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { parseEnv, type Verb } from '../../../src/plugin/env.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace, type Context } from '../../../src/plugin/role.ts'
import { asyncErrorOf } from '../../support/errors.ts'
import { createFakeSystem, type FakeSystem } from '../../support/fake-system.ts'

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/c1' }],
  ips: [{ address: '10.47.0.5/16', gateway: '10.47.0.1', interface: 1 }],
}

let dir: string
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'tscni-dns-unit-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const firewall = (): Firewall => {
  const backend = { name: 'iptables' } as FirewallBackend
  return { select: async () => backend, usable: async () => [backend], removable: () => [backend], probe: async () => ({ iptables: true, nftables: false }) }
}

function ctxFor(verb: Verb, conf: Record<string, unknown>, sys: FakeSystem, containerId = 'c1'): Context {
  const env = parseEnv(verb, { CNI_COMMAND: verb, CNI_CONTAINERID: containerId, CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/bin', CNI_ARGS: 'K8S_POD_NAME=web' })
  const stdin = JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'dnsname', dataDir: dir, resolvConf: '/nonexistent', ...conf })
  return { env, conf: decodeNetConf(stdin, verb), stdin, sys, ipam: undefined as never, log: silentLogger, trace: noTrace }
}

// A fake dnsmasq that "runs" once started, until stopped.
function withServer(sys: FakeSystem): { started: () => number } {
  let running = false
  let starts = 0
  sys.on('dnsmasq.start', () => void ((running = true), starts++))
  sys.on('dnsmasq.stop', () => void (running = false))
  sys.on('dnsmasq.running', () => (running ? 4242 : undefined))
  return { started: () => starts }
}

describe('dnsname ADD', () => {
  it('writes the entry, starts the server once, opens port 53 and returns the gateway as name server', async () => {
    const sys = createFakeSystem()
    const server = withServer(sys)
    const role = createDns({ firewall })
    const result = await role.add(ctxFor('ADD', { prevResult: PREV }, sys))
    expect(result.dns).toEqual({ nameservers: ['10.47.0.1'], search: ['dns.tscni'] })
    expect(readFileSync(join(dir, 'net1/hosts/c1:eth0'), 'utf8')).toBe('10.47.0.5 web.dns.tscni web c1.dns.tscni c1\n')
    expect(readFileSync(join(dir, 'net1/dnsmasq.conf'), 'utf8')).toContain('listen-address=10.47.0.1\n')
    expect(sys.callsOf('netfilter.restore')[0]!.args[1]).toContain('-d 10.47.0.1/32 -p udp -m udp --dport 53 -j ACCEPT')
    await role.add(ctxFor('ADD', { prevResult: PREV }, sys, 'c2'))
    expect(server.started()).toBe(1)
  })

  it('a server that will not start leaves no entry and no directory', async () => {
    const sys = createFakeSystem().on('dnsmasq.start', () => { throw new Error('dnsmasq: failed to create listening socket for 10.47.0.1: Address in use') })
    const err = await asyncErrorOf(createDns({ firewall }).add(ctxFor('ADD', { prevResult: PREV }, sys)))
    expect(err).toBeInstanceOf(CniError)
    expect((err as CniError).message).toMatch(/^cannot start the DNS server of network "net1": dnsmasq: failed to create listening socket/)
    expect(existsSync(join(dir, 'net1'))).toBe(false)
  })

  it('without prevResult: code 7 and nothing written', async () => {
    const sys = createFakeSystem()
    const err = await asyncErrorOf(createDns({ firewall }).add(ctxFor('ADD', {}, sys)))
    expect((err as CniError).code).toBe(7)
    expect(existsSync(join(dir, 'net1'))).toBe(false)
  })
})

describe('dnsname DEL, CHECK, GC, STATUS', () => {
  it('DEL needs no prevResult; the last one stops the server and removes the directory; DEL again is a no-op', async () => {
    const sys = createFakeSystem()
    withServer(sys)
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', { prevResult: PREV }, sys))
    await role.del(ctxFor('DEL', {}, sys))
    expect(sys.callsOf('dnsmasq.stop')).toHaveLength(1)
    expect(existsSync(join(dir, 'net1'))).toBe(false)
    const before = sys.calls.length
    await role.del(ctxFor('DEL', {}, sys))
    expect(sys.calls.length).toBe(before)
  })

  it('CHECK names a missing entry, then a stopped server', async () => {
    const sys = createFakeSystem()
    withServer(sys)
    const role = createDns({ firewall })
    const missing = await asyncErrorOf(role.check(ctxFor('CHECK', { prevResult: PREV }, sys)))
    expect((missing as CniError).message).toMatch(/DNS entry of container c1 \(eth0\) on network "net1" is missing/)
    await role.add(ctxFor('ADD', { prevResult: PREV }, sys))
    await sys.dnsmasq.stop('', '')
    const down = await asyncErrorOf(role.check(ctxFor('CHECK', { prevResult: PREV }, sys)))
    expect((down as CniError).message).toMatch(/DNS server of network "net1" is not running/)
  })

  it('GC keeps valid attachments only and stops the server when none is left', async () => {
    const sys = createFakeSystem()
    withServer(sys)
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', { prevResult: PREV }, sys, 'keep'))
    await role.add(ctxFor('ADD', { prevResult: PREV }, sys, 'gone'))
    await role.gc(ctxFor('GC', { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }, sys))
    expect(existsSync(join(dir, 'net1/hosts/keep:eth0'))).toBe(true)
    expect(existsSync(join(dir, 'net1/hosts/gone:eth0'))).toBe(false)
    await role.gc(ctxFor('GC', { 'cni.dev/valid-attachments': [] }, sys))
    expect(existsSync(join(dir, 'net1'))).toBe(false)
  })

  it('STATUS is code 50 without dnsmasq', async () => {
    const sys = createFakeSystem().on('dnsmasq.version', () => undefined)
    const err = await asyncErrorOf(createDns({ firewall }).status(ctxFor('STATUS', {}, sys)))
    expect((err as CniError).code).toBe(50)
  })
})
