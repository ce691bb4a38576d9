// dnsname's files against planted links, shared data dirs, ambiguous attachment names and name squatting, over a
// fake System and a real temp data dir: a link or foreign directory is refused before anything is written, the last
// DEL removes only the role's own files, <id>:<ifname> never collides, files of tscni 0.1.0 are still removed, and
// a namespaced pod never takes the bare name another namespace holds.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FirewallBackend } from '../../../src/firewall/backend.ts'
import type { Firewall } from '../../../src/firewall/select.ts'
import { createDns } from '../../../src/dns/handlers.ts'
import { untrustedDir } from '../../../src/dns/trust.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { parseEnv, type Verb } from '../../../src/plugin/env.ts'
import { silentLogger, type Logger } from '../../../src/plugin/log.ts'
import { noTrace, type Context } from '../../../src/plugin/role.ts'
import { asyncErrorOf } from '../../support/errors.ts'
import { createFakeSystem, type FakeSystem } from '../../support/fake-system.ts'

const prev = (ifname = 'eth0') => ({
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: ifname, sandbox: '/run/netns/c1' }],
  ips: [{ address: '10.47.0.5/16', gateway: '10.47.0.1', interface: 1 }],
})

let dir: string
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'tscni-dns-hard-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const firewall = (): Firewall => {
  const backend = { name: 'iptables' } as FirewallBackend
  return { select: async () => backend, usable: async () => [backend], removable: () => [backend], probe: async () => ({ iptables: true, nftables: false }) }
}

interface Call {
  readonly containerId?: string
  readonly ifname?: string
  readonly args?: string
  readonly network?: string
  readonly conf?: Record<string, unknown>
  readonly log?: Logger
}

function ctxFor(verb: Verb, sys: FakeSystem, call: Call = {}): Context {
  const env = parseEnv(verb, { CNI_COMMAND: verb, CNI_CONTAINERID: call.containerId ?? 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: call.ifname ?? 'eth0', CNI_PATH: '/bin', CNI_ARGS: call.args ?? '' })
  const stdin = JSON.stringify({ cniVersion: '1.1.0', name: call.network ?? 'net1', type: 'dnsname', dataDir: dir, resolvConf: '/nonexistent', ...(verb === 'ADD' ? { prevResult: prev(call.ifname) } : {}), ...call.conf })
  return { env, conf: decodeNetConf(stdin, verb), stdin, sys, ipam: undefined as never, log: call.log ?? silentLogger, trace: noTrace }
}

function withServer(sys: FakeSystem): FakeSystem {
  let running = false
  sys.on('dnsmasq.start', () => void (running = true))
  sys.on('dnsmasq.stop', () => void (running = false))
  sys.on('dnsmasq.running', () => (running ? 4242 : undefined))
  return sys
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const put = (m: string) => void lines.push(m)
  return { lines, log: { ...silentLogger, warn: put, info: put } }
}

describe('untrustedDir', () => {
  const facts = (uid: number, mode: number, kind: 'dir' | 'link' | 'file' = 'dir') => ({ uid, mode, isDirectory: () => kind === 'dir', isSymbolicLink: () => kind === 'link' })
  it('accepts a root-owned directory nobody else can write, and refuses the rest, saying why', () => {
    expect(untrustedDir(facts(0, 0o40755), [0])).toBeUndefined()
    expect(untrustedDir(facts(0, 0o40700), [0])).toBeUndefined()
    expect(untrustedDir(facts(0, 0o120777, 'link'), [0])).toBe('it is a symbolic link')
    expect(untrustedDir(facts(0, 0o100644, 'file'), [0])).toBe('it is not a directory')
    expect(untrustedDir(facts(1000, 0o40755), [0])).toBe('it is owned by uid 1000, not root')
    expect(untrustedDir(facts(0, 0o40775), [0])).toBe('it is writable by group or others (mode 0775)')
    expect(untrustedDir(facts(0, 0o41777), [0])).toBe('it is writable by group or others (mode 1777)')
  })
})

describe('L1: dnsname directories', () => {
  it('ADD refuses a planted link <dataDir>/<network> -> victim, writes nothing into the victim and leaves its mode', async () => {
    const victim = join(dir, 'victim')
    mkdirSync(victim, { mode: 0o700 })
    symlinkSync(victim, join(dir, 'net1'))
    const err = await asyncErrorOf(createDns({ firewall }).add(ctxFor('ADD', withServer(createFakeSystem()))))
    expect(err).toBeInstanceOf(CniError)
    expect(err).toMatchObject({ code: 5, message: `refusing to keep DNS files in ${join(dir, 'net1')}: it is a symbolic link` })
    expect(readdirSync(victim)).toEqual([])
    expect(statSync(victim).mode & 0o777).toBe(0o700)
  })

  it('ADD refuses a hosts directory that is a link, and a network directory others can write', async () => {
    mkdirSync(join(dir, 'net1'), { mode: 0o755 })
    symlinkSync('/etc', join(dir, 'net1/hosts'))
    expect(await asyncErrorOf(createDns({ firewall }).add(ctxFor('ADD', withServer(createFakeSystem()))))).toMatchObject({ message: expect.stringMatching(/net1\/hosts: it is a symbolic link$/) })
    mkdirSync(join(dir, 'net2'))
    chmodSync(join(dir, 'net2'), 0o777)
    const err = await asyncErrorOf(createDns({ firewall }).add(ctxFor('ADD', withServer(createFakeSystem()), { network: 'net2' })))
    expect(err).toMatchObject({ message: expect.stringMatching(/net2: it is writable by group or others \(mode 0777\)$/) })
    expect(existsSync(join(dir, 'net2/dnsmasq.conf'))).toBe(false)
  })

  it('with dataDir = host-local\'s data dir, the last DEL removes only its own files: reservations and lock stay', async () => {
    // host-local keeps <dataDir>/<network>/<ip>, last_reserved_ip.0 and lock (reference disk backend).
    mkdirSync(join(dir, 'net1'), { mode: 0o755 })
    for (const f of ['10.47.0.5', 'last_reserved_ip.0', 'lock']) writeFileSync(join(dir, 'net1', f), 'c1\neth0')
    const sys = withServer(createFakeSystem())
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', sys))
    writeFileSync(join(dir, 'net1/dnsmasq.pid'), '4242')
    writeFileSync(join(dir, 'net1/.tmp-abandoned'), '')
    await role.del(ctxFor('DEL', sys))
    expect(readdirSync(join(dir, 'net1')).sort()).toEqual(['10.47.0.5', 'last_reserved_ip.0', 'lock'])
  })

  it('the last DEL leaves a planted link and its target alone', async () => {
    const sys = withServer(createFakeSystem())
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', sys))
    // Swapped for a link after the ADD: DEL succeeds, says why, and deletes nothing behind the link.
    const victim = join(dir, 'victim')
    mkdirSync(join(victim, 'hosts'), { recursive: true })
    writeFileSync(join(victim, 'dnsmasq.conf'), 'keep')
    writeFileSync(join(victim, 'hosts/c1:eth0'), 'keep')
    rmSync(join(dir, 'net1'), { recursive: true })
    symlinkSync(victim, join(dir, 'net1'))
    const { log, lines } = capture()
    await role.del(ctxFor('DEL', sys, { log }))
    expect(readFileSync(join(victim, 'dnsmasq.conf'), 'utf8')).toBe('keep')
    expect(readdirSync(join(victim, 'hosts'))).toEqual(['c1:eth0'])
    expect(lines.join('\n')).toContain(`DEL leaves the DNS files alone: ${join(dir, 'net1')}: it is a symbolic link`)
  })

  it('a DEL whose config does not parse never uses a dataDir that failed its check', async () => {
    const sys = withServer(createFakeSystem())
    await createDns({ firewall }).add(ctxFor('ADD', sys))
    const bad = join(dir, 'x y')
    mkdirSync(join(bad, 'net1/hosts'), { recursive: true })
    writeFileSync(join(bad, 'net1/dnsmasq.conf'), 'keep')
    writeFileSync(join(bad, 'net1/hosts/c1:eth0'), 'keep')
    const { log, lines } = capture()
    await createDns({ firewall }).del(ctxFor('DEL', sys, { conf: { dataDir: bad }, log }))
    expect(readdirSync(join(bad, 'net1/hosts'))).toEqual(['c1:eth0'])
    expect(lines.join('\n')).toMatch(/DEL leaves the DNS files alone/)
  })
})

describe('L2: hosts file names', () => {
  it('id "pod1" with interface "eth0-x" and id "pod1-eth0" with interface "x" get two files; DEL of one keeps the other', async () => {
    const sys = withServer(createFakeSystem())
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', sys, { containerId: 'pod1', ifname: 'eth0-x', args: 'K8S_POD_NAME=first' }))
    await role.add(ctxFor('ADD', sys, { containerId: 'pod1-eth0', ifname: 'x', args: 'K8S_POD_NAME=second' }))
    expect(readdirSync(join(dir, 'net1/hosts')).sort()).toEqual(['pod1-eth0:x', 'pod1:eth0-x'])
    expect(readFileSync(join(dir, 'net1/hosts/pod1:eth0-x'), 'utf8')).toMatch(/ first /)
    await role.del(ctxFor('DEL', sys, { containerId: 'pod1-eth0', ifname: 'x' }))
    expect(readdirSync(join(dir, 'net1/hosts'))).toEqual(['pod1:eth0-x'])
  })

  it('DEL, CHECK and GC still find the files tscni 0.1.0 wrote (<id>-<ifname>)', async () => {
    const sys = withServer(createFakeSystem())
    const role = createDns({ firewall })
    await role.add(ctxFor('ADD', sys, { containerId: 'new1' }))
    // Files an older version left: attachments old1 and old2 (and old3, gone).
    for (const id of ['old1', 'old2', 'old3']) writeFileSync(join(dir, `net1/hosts/${id}-eth0`), `10.47.0.9 ${id}.dns.tscni ${id}\n`)
    // CHECK finds the entry (the fake firewall has no rules, which is what it reports instead).
    const check = await asyncErrorOf(role.check(ctxFor('CHECK', sys, { containerId: 'old1', conf: { prevResult: prev() } })))
    expect((check as Error).message).toMatch(/DNS firewall rules of network "net1" are missing/)
    await role.del(ctxFor('DEL', sys, { containerId: 'old1' }))
    expect(readdirSync(join(dir, 'net1/hosts')).sort()).toEqual(['new1:eth0', 'old2-eth0', 'old3-eth0'])
    await role.gc(ctxFor('GC', sys, { conf: { 'cni.dev/valid-attachments': [{ containerID: 'new1', ifname: 'eth0' }, { containerID: 'old2', ifname: 'eth0' }] } }))
    expect(readdirSync(join(dir, 'net1/hosts')).sort()).toEqual(['new1:eth0', 'old2-eth0'])
    await role.gc(ctxFor('GC', sys, { conf: { 'cni.dev/valid-attachments': [] } }))
    expect(existsSync(join(dir, 'net1'))).toBe(false)
  })
})

describe('L3 and M3 through the role', () => {
  it.each(['constructor', 'toString', 'valueOf'])('ADD on network %s with an aliases map publishes its aliases', async (network) => {
    const sys = withServer(createFakeSystem())
    await createDns({ firewall }).add(ctxFor('ADD', sys, { network, conf: { runtimeConfig: { aliases: { other: ['x'], [network]: ['mine'] } } } }))
    expect(readFileSync(join(dir, network, 'hosts/c1:eth0'), 'utf8')).toBe('10.47.0.5 mine.dns.tscni mine c1.dns.tscni c1\n')
  })

  it('a pod of another namespace gets <pod>.<namespace> only; its own namespace shares the bare name; without namespace as before', async () => {
    const sys = withServer(createFakeSystem())
    const role = createDns({ firewall })
    const { log, lines } = capture()
    await role.add(ctxFor('ADD', sys, { containerId: 'a1', args: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=db' }))
    await role.add(ctxFor('ADD', sys, { containerId: 'b1', args: 'K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=db', log }))
    await role.add(ctxFor('ADD', sys, { containerId: 'a2', args: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=db' }))
    await role.add(ctxFor('ADD', sys, { containerId: 'p1', args: 'K8S_POD_NAME=db' }))
    const hosts = (id: string) => readFileSync(join(dir, `net1/hosts/${id}:eth0`), 'utf8')
    expect(hosts('a1')).toBe('10.47.0.5 db.team-a.dns.tscni db.team-a db.dns.tscni db a1.dns.tscni a1\n')
    expect(hosts('b1')).toBe('10.47.0.5 db.team-b.dns.tscni db.team-b b1.dns.tscni b1\n')
    expect(hosts('a2')).toBe('10.47.0.5 db.team-a.dns.tscni db.team-a db.dns.tscni db a2.dns.tscni a2\n')
    expect(hosts('p1')).toBe('10.47.0.5 db.dns.tscni db p1.dns.tscni p1\n')
    expect(lines.join('\n')).toMatch(/name "db" is already published on network "net1" .*pod db of namespace team-b is published as "db.team-b" only/)
    // A repeated ADD of the holder keeps its own bare name.
    await role.add(ctxFor('ADD', sys, { containerId: 'a1', args: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=db' }))
    expect(hosts('a1')).toMatch(/ db\.dns\.tscni db /)
  })
})
