// The dnsname role through the real executable, dnsmasq and the kernel, each test in a throwaway host namespace with
// a fake upstream resolver: pods resolve each other by name, alias and short id (A, AAAA, PTR), on both gateway
// addresses; other names are forwarded; unknown names in the domain get NXDOMAIN without reaching the upstream;
// names vanish on DEL; a shared alias is answered round-robin; the next ADD restarts a killed server; CHECK, GC and
// STATUS; names that are not DNS labels are never written; the last DEL leaves no server and no files.
import { execa } from 'execa'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'
import { CniRuntime, PluginFailure, type Attachment } from '../support/cni-runtime.ts'
import { answers, dnsNetwork, fakeUpstream, killServersUnder, makeDnsDir, query, serversUnder, type FakeUpstream } from '../support/dns.ts'
import type { TestNetns } from '../support/netns.ts'
import { containerIps, gateways, ipv6Settled } from '../support/portmap.ts'
import { runPlugin } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let host: TestNetns
let dnsDir: string
let upstream: FakeUpstream & { resolvConf: string }
let cni: CniRuntime

beforeEach(async () => {
  host = node.host
  const d = makeDnsDir()
  dnsDir = d.dir
  // Deferred last-first: servers are killed before the directory goes.
  node.defer(d.cleanup, () => killServersUnder(d.dir))
  const up = await fakeUpstream(host, dnsDir)
  node.defer(() => up.stop())
  upstream = up
  cni = new CniRuntime(dnsNetwork(node.dataDir, dnsDir, up.resolvConf), { binDir: node.bin, hostNetns: host.name })
})

function pod(ns: TestNetns, containerId: string, name?: string, aliases: string[] = []): Attachment {
  return {
    containerId,
    netns: ns.path,
    ifname: 'eth0',
    capabilityArgs: { aliases: { tscni: aliases } },
    ...(name ? { cniArgs: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', name]] as const } : {}),
  }
}

describe('dnsname', () => {
  it('answers names, aliases and short ids (A, AAAA, PTR) on both gateways, forwards the rest, and keeps the domain local', async () => {
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const web = await cni.add(pod(c1, '0123456789abcdef0001', 'web', ['frontend']))
    const db = await cni.add(pod(c2, 'fedcba98765432100002', 'db'))
    const gw = gateways(web)
    const webIp = containerIps(web)
    const dbIp = containerIps(db)
    // The result tells the runtime what to put into the pod's resolv.conf.
    expect(web.dns).toEqual({ nameservers: [gw.v4, gw.v6], search: ['dns.tscni'] })

    expect(await answers(c1, gw.v4, 'db')).toEqual([dbIp.v4])
    expect(await answers(c1, gw.v4, 'db.dns.tscni')).toEqual([dbIp.v4])
    expect(await answers(c1, gw.v4, 'DB.dns.tscni')).toEqual([dbIp.v4])
    expect(await answers(c1, gw.v4, 'db', 'AAAA')).toEqual([dbIp.v6])
    expect(await answers(c2, gw.v4, 'frontend')).toEqual([webIp.v4])
    expect(await answers(c2, gw.v4, '0123456789ab')).toEqual([webIp.v4])
    expect(await answers(c2, gw.v4, webIp.v4, 'PTR')).toEqual(['web.dns.tscni'])
    await ipv6Settled(host, 'cni0')
    expect(await answers(c2, gw.v6, 'web', 'AAAA')).toEqual([webIp.v6])

    // Other names go to the host's resolvers...
    expect(await answers(c1, gw.v4, 'www.example.test')).toEqual(['192.0.2.7'])
    expect(upstream.queried()).toContain('www.example.test')
    // ...but a name in the network's domain that is not there, or a bare name, never leaves the host.
    expect(await query(c1, gw.v4, 'ghost.dns.tscni', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(await query(c1, gw.v4, 'ghost', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(upstream.queried().filter((q) => q.includes('ghost'))).toEqual([])

    // tscni ls shows the names on the network.
    const ls = String((await execa(`${node.bin}/tscni`, ['ls', '--data-dir', node.dataDir, '--conf-dir', dnsDir, '--dns-dir', dnsDir])).stdout)
    expect(ls).toMatch(new RegExp(`web, frontend, 0123456789ab +${webIp.v4.replace(/\./g, '\\.')} +0123456789abcdef0001:eth0`))
    expect(ls).toMatch(new RegExp(`db, fedcba987654 +${dbIp.v6} +fedcba98765432100002:eth0`))

    // The server listens on the gateways only and runs unprivileged; its files are root's and not world-writable.
    const [pid] = serversUnder(dnsDir)
    const listening = String((await host.exec('ss', ['-Hlntup', 'sport', '=', ':53'])).stdout)
    const own = listening.split('\n').filter((l) => l.includes(`pid=${pid},`))
    expect([...new Set(own.map((l) => l.split(/\s+/)[4]))].sort()).toEqual([`${gw.v4}:53`, `[${gw.v6}]:53`].sort())
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+(?!0\s)\d+/m)
    for (const f of [`${dnsDir}/tscni/dnsmasq.conf`, `${dnsDir}/tscni/hosts`, `${dnsDir}/tscni/hosts/0123456789abcdef0001:eth0`]) {
      const st = statSync(f)
      expect(st.uid).toBe(0)
      expect(st.mode & 0o002).toBe(0)
    }
  })

  it('names vanish on DEL, a shared alias is answered round-robin, and the last DEL leaves no server and no files', async () => {
    const [c1, c2, c3] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const a = pod(c1, 'aaaa00000000000000001', 'api-1', ['api'])
    const b = pod(c2, 'bbbb00000000000000002', 'api-2', ['api'])
    const c = pod(c3, 'cccc00000000000000003', 'client')
    const ra = await cni.add(a)
    const rb = await cni.add(b)
    await cni.add(c)
    const gw = gateways(ra).v4
    expect(await answers(c3, gw, 'api')).toEqual([containerIps(ra).v4, containerIps(rb).v4].sort())
    // Round-robin: the order of the two answers changes between queries.
    const firsts = new Set<string>()
    for (let i = 0; i < 6; i++) firsts.add((await query(c3, gw, 'api', 'A')).answers![0]!)
    expect(firsts.size).toBe(2)

    await cni.del(a)
    expect(await query(c3, gw, 'api-1', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(await answers(c3, gw, 'api')).toEqual([containerIps(rb).v4])
    await cni.del(b)
    // A DEL without prevResult, names or netns still removes the entry (a runtime that lost its cache).
    await cni.runOne('DEL', 'dnsname', { ...c, netns: '' })
    expect(serversUnder(dnsDir)).toEqual([])
    expect(readdirSync(dnsDir).filter((f) => !['lock', 'resolv.conf', 'upstream.log', 'upstream.pid'].includes(f))).toEqual([])
    // DEL again: nothing there, still success.
    await cni.del(c)
  })

  it('the next ADD restarts a server that died; CHECK reports it down meanwhile', async () => {
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const one = pod(c1, 'dead00000000000000001', 'one')
    const r1 = await cni.add(one)
    await cni.check(one)
    const [pid] = serversUnder(dnsDir)
    process.kill(pid!, 'SIGKILL')
    for (let i = 0; i < 50 && serversUnder(dnsDir).length > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const failure = await cni.check(one).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(PluginFailure)
    expect((failure as PluginFailure).error?.msg).toMatch(/DNS server of network "tscni" is not running/)
    await cni.add(pod(c2, 'dead00000000000000002', 'two'))
    expect(serversUnder(dnsDir)).toHaveLength(1)
    const gw = gateways(r1).v4
    expect(await answers(c2, gw, 'one')).toEqual([containerIps(r1).v4])
    await cni.check(one)
  })

  it('names that are not DNS labels are refused with a message and never written', async () => {
    const c1 = await node.pool.create('tscni-c')
    const att = pod(c1, 'bad000000000000000001', 'Web_1', ['ok-alias', 'evil\n10.9.9.9 bank', 'a b', 'x'.repeat(64), 'UPPER'])
    const reply = await runPlugin({
      role: 'dnsname', verb: 'ADD', host, binDir: node.bin, containerId: att.containerId, netns: att.netns, ifname: 'eth0', args: 'K8S_POD_NAME=Web_1',
      config: { ...dnsNetwork(node.dataDir, dnsDir, upstream.resolvConf).plugins[1], name: 'tscni', cniVersion: '1.1.0', runtimeConfig: { aliases: { tscni: ['ok-alias', 'evil\n10.9.9.9 bank', 'a b', 'x'.repeat(64), 'UPPER'] } },
        prevResult: await cni.add({ ...att, capabilityArgs: {} }).then((r) => ({ ...r, dns: undefined })) },
    })
    expect(reply.exitCode).toBe(0)
    expect(reply.stderr).toMatch(/"Web_1" \(K8S_POD_NAME\) is not a valid DNS label/)
    expect(reply.stderr).toMatch(/"evil\\n10.9.9.9 bank" \(alias\) is not a valid DNS label/)
    const file = readFileSync(`${dnsDir}/tscni/hosts/${att.containerId}:eth0`, 'utf8')
    expect(file).not.toMatch(/bank|evil|Web_1|a b|xxxx/)
    expect(file).toMatch(/ ok-alias\.dns\.tscni ok-alias upper\.dns\.tscni upper bad000000000\.dns\.tscni bad000000000\n/)
    expect(file.trim().split('\n')).toHaveLength(2)
    await cni.del(att)
  })

  it('GC removes entries of attachments that are gone and stops an idle server; STATUS needs dnsmasq', async () => {
    const [c1, c2] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const keep = pod(c1, 'gc0000000000000000001', 'keep')
    const gone = pod(c2, 'gc0000000000000000002', 'gone')
    const r = await cni.add(keep)
    await cni.add(gone)
    await cni.gc([{ containerId: keep.containerId, ifname: 'eth0' }])
    expect(await query(c1, gateways(r).v4, 'gone', 'A')).toEqual({ code: 'ENOTFOUND' })
    expect(await answers(c1, gateways(r).v4, 'keep')).toEqual([containerIps(r).v4])
    // The tool's gc runs the same GC for the network: nothing valid any more, so the server stops.
    const gc = await host.exec(`${node.bin}/tscni`, ['gc', '--network', 'tscni', '--valid', '-', '--data-dir', node.dataDir, '--dns-dir', dnsDir], { input: '[]' })
    expect(String(gc.stdout)).toMatch(/stale DNS names from its server/)
    expect(serversUnder(dnsDir)).toEqual([])
    expect(existsSync(`${dnsDir}/tscni`)).toBe(false)

    await cni.status()
    const status = await runPlugin({
      role: 'dnsname', verb: 'STATUS', binDir: node.bin, config: { cniVersion: '1.1.0', name: 'tscni', type: 'dnsname' },
      env: { PATH: '/nonexistent', TSCNI_SYSTEM_PATH: '/nonexistent' },
    })
    expect(status.exitCode).toBe(1)
    expect(status.json).toMatchObject({ code: 50, msg: expect.stringMatching(/dnsmasq is not installed/) })
  })

  it('ADD without prevResult or without a gateway fails with a config error and writes nothing', async () => {
    const c1 = await node.pool.create('tscni-c')
    const base = { ...dnsNetwork(node.dataDir, dnsDir, upstream.resolvConf).plugins[1], name: 'tscni', cniVersion: '1.1.0' }
    const call = { role: 'dnsname', verb: 'ADD' as const, host, binDir: node.bin, containerId: 'nogw1', netns: c1.path, ifname: 'eth0' }
    const noPrev = await runPlugin({ ...call, config: base })
    expect(noPrev.json).toMatchObject({ code: 7, msg: 'must be called as chained plugin' })
    const noGw = await runPlugin({ ...call, config: { ...base, prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: c1.path }], ips: [{ address: '10.47.0.9/16', interface: 0 }] } } })
    expect(noGw.json).toMatchObject({ code: 7, msg: expect.stringMatching(/no gateway address/) })
    const badDomain = await runPlugin({ ...call, config: { ...base, domainName: 'bad domain' } })
    expect(badDomain.json).toMatchObject({ code: 7, msg: expect.stringMatching(/^invalid domainName: .*\(got "bad domain"\)/) })
    expect(existsSync(`${dnsDir}/tscni`)).toBe(false)
  })

  describe.each(['iptables', 'nftables'] as const)('port 53 through the %s firewall', (backend) => {
    it('is opened from the subnet to the gateway, CHECK notices a missing rule, and the last DEL removes it', async () => {
      cni = new CniRuntime(dnsNetwork(node.dataDir, dnsDir, upstream.resolvConf, { backend }), { binDir: node.bin, hostNetns: host.name })
      const c1 = await node.pool.create('tscni-c')
      const att = pod(c1, 'fw0000000000000000001', 'guarded')
      // iptables: the host drops everything else arriving for it, so only the role's rule lets queries in.
      if (backend === 'iptables') await host.exec('iptables', ['-P', 'INPUT', 'DROP'])
      const r = await cni.add(att)
      const gw = gateways(r).v4
      expect(await answers(c1, gw, 'guarded')).toEqual([containerIps(r).v4])
      const rules = async () => backend === 'iptables'
        ? String((await host.exec('iptables-save', ['-t', 'filter'])).stdout) + String((await host.exec('ip6tables-save', ['-t', 'filter'])).stdout)
        : String((await host.exec('nft', ['list', 'ruleset'])).stdout)
      const text = await rules()
      expect(text).toContain('tscni-dns:tscni')
      expect(text).toMatch(backend === 'iptables' ? /-s 10\.47\.0\.0\/16 -d 10\.47\.0\.1\/32 -p udp -m udp --dport 53 -j ACCEPT/ : /ip saddr 10\.47\.0\.0\/16 ip daddr 10\.47\.0\.1 meta l4proto \{ tcp, udp \} th dport 53 accept/)
      await cni.check(att)
      if (backend === 'iptables') await host.exec('iptables', ['-D', 'INPUT', '-m', 'comment', '--comment', 'tscni-dns:tscni', '-j', String(/-j (TSCNI-DNS-\w+)/.exec(text)![1])])
      else await host.exec('nft', ['flush', 'chain', 'inet', 'tscni-dns', 'dns-tscni'])
      const failure = await cni.check(att).catch((e: unknown) => e)
      expect((failure as PluginFailure).error?.msg).toMatch(/DNS firewall rules of network "tscni" are missing/)
      // The next ADD puts them back.
      await cni.runOne('ADD', 'dnsname', att)
      await cni.check(att)
      await cni.del(att)
      expect(await rules()).not.toMatch(/tscni-dns|TSCNI-DNS/)
    })
  })
})
