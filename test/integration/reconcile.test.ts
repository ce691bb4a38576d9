// tscni's attachment records and `tscni reconcile` through the real executable, for both firewall backends, in a
// throwaway host namespace: records written at ADD and removed at DEL; after the firewall is flushed, reconcile
// (and --watch) restores host ports and masquerade (traffic and CHECK prove it), idempotently; after a simulated
// reboot (namespaces deleted, state kept) it releases the dead attachments' addresses, rules and records and
// keeps the live ones and those the runtime still lists.
import { execa } from 'execa'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { firewallText, listen, tcpGet } from '../support/bridge.ts'
import { CniRuntime, type Attachment } from '../support/cni-runtime.ts'
import { reservations } from '../support/host-local.ts'
import { runPlugin } from '../support/run-plugin.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, containerIps, gateways, portmapNetwork, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let host: TestNetns
let bin: string
let dataDir: string
let stateDir: string
let cacheDir: string
beforeEach(() => {
  ;({ host, bin, dataDir } = node)
  const root = mkdtempSync(join(tmpdir(), 'tscni-reconcile-'))
  node.defer(() => rmSync(root, { recursive: true, force: true }))
  stateDir = join(root, 'state')
  cacheDir = join(root, 'cache')
  mkdirSync(join(cacheDir, 'results'), { recursive: true })
})

function runtime(backend: Backend): CniRuntime {
  return new CniRuntime(portmapNetwork(backend, dataDir), { binDir: bin, hostNetns: host.name, env: { TSCNI_STATE_DIR: stateDir } })
}

function attachment(ns: TestNetns, containerId: string, hostPort: number): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] } }
}

async function tscni(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const res = await execa('ip', ['netns', 'exec', host.name, join(bin, 'tscni'), ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH } })
  return { exitCode: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) }
}

const reconcile = (...args: string[]) => tscni('reconcile', '--state-dir', stateDir, '--cache-dir', cacheDir, ...args)

async function flush(backend: Backend): Promise<void> {
  if (backend === 'nftables') {
    await host.exec('nft', ['flush', 'ruleset'])
  } else {
    for (const tool of ['iptables', 'ip6tables']) await host.exec(tool, ['-t', 'nat', '-F'])
  }
}

const records = () => readdirSync(stateDir).sort()

describe.each(BACKENDS)('reconcile with %s', (backend) => {
  it('records each attachment, restores host ports and masquerade after a flush, idempotently; DEL removes the records', async () => {
    const cni = runtime(backend)
    const pod = await node.pool.create('tscni-c')
    const att = attachment(pod, 'rec-1', 8081)
    const result = await cni.add(att)
    const server = listen(pod, 80, 'pod-1')
    node.defer(() => server.stop())
    // A second pod: its rules are restored in the same transaction as the first one's.
    const pod2 = await node.pool.create('tscni-c')
    const att2 = attachment(pod2, 'rec-2', 8091)
    await cni.add(att2)
    const server2 = listen(pod2, 80, 'pod-2')
    node.defer(() => server2.stop())
    const gw = gateways(result).v4

    // One record per role that owns state, with what the issue asks for.
    expect(records()).toHaveLength(4)
    const docs = records().map((f) => JSON.parse(readFileSync(join(stateDir, f), 'utf8')))
    const portmap = docs.find((d) => d.role === 'portmap' && d.containerId === 'rec-1')
    expect(portmap).toMatchObject({ network: 'tscni', containerId: 'rec-1', ifname: 'eth0', netns: pod.path, runtimeConfig: { portMappings: [{ hostPort: 8081 }] } })
    expect(portmap.config.type).toMatch(/portmap$/)
    expect(docs.find((d) => d.role === 'bridge' && d.containerId === 'rec-1').result.ips.map((i: any) => i.address)).toEqual(result.ips.map((i: any) => i.address))

    expect(await tcpGet(host, gw, 8081)).toBe('pod-1')
    expect((await tscni('doctor', '--state-dir', stateDir, '--cache-dir', cacheDir, '--data-dir', dataDir)).stdout).toMatch(/ok\s+live rules\s+4 live attachment record\(s\)/)
    const before = await firewallText(host)
    // Four attachments' rules and the node-wide loopback drop portmap's route_localnet relies on.
    expect((await reconcile()).stdout).toMatch(/: 5 rule set\(s\) in place, 0 restored in 0 firewall transaction\(s\); 0 stale released/)
    // The iptables flush below leaves the raw table (and so the loopback drop); nft flush ruleset takes it too.
    const lost = backend === 'iptables' ? 4 : 5

    await flush(backend)
    expect(await tcpGet(host, gw, 8081, 3)).toBe('')
    await expect(cni.check(att)).rejects.toThrow()

    // doctor sees the missing rules of the live pod and names the remedy; before, it saw them in place.
    const doctor = await tscni('doctor', '--state-dir', stateDir, '--cache-dir', cacheDir, '--data-dir', dataDir)
    expect(doctor.exitCode).toBe(1)
    expect(doctor.stdout).toMatch(new RegExp(`FAIL\\s+live rules\\s+${lost} rule set\\(s\\) of live attachments missing .*host ports of portmap tscni/rec-1/eth0`))
    expect(doctor.stdout).toMatch(/remedy: tscni reconcile/)

    const dry = await reconcile('--dry-run')
    expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0)
    expect(dry.stdout).toContain(`would restore host ports of portmap tscni/rec-1/eth0 (${backend})`)
    expect(dry.stdout).toContain(`would restore masquerade of bridge tscni/rec-1/eth0 (${backend})`)
    expect(await tcpGet(host, gw, 8081, 3)).toBe('') // a dry run changes nothing

    const run = await reconcile()
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain(`restored host ports of portmap tscni/rec-1/eth0 (${backend})`)
    expect(run.stdout).toContain(`restored masquerade of bridge tscni/rec-1/eth0 (${backend})`)
    expect(run.stdout).toContain(`restored host ports of portmap tscni/rec-2/eth0 (${backend})`)
    expect(run.stdout).toMatch(new RegExp(`${lost} restored in 1 firewall transaction\\(s\\)`)) // both pods, masquerade and host ports at once
    expect(await tcpGet(host, gw, 8081)).toBe('pod-1')
    expect(await tcpGet(host, gw, 8091)).toBe('pod-2')
    await cni.check(att)
    await cni.check(att2) // masquerade and host-port rules verified by the plugins' own CHECK

    // Idempotent: a second pass restores nothing and changes no rule.
    const after = await firewallText(host)
    const again = await reconcile()
    expect(again.stdout).toMatch(/: 5 rule set\(s\) in place, 0 restored in 0 firewall transaction\(s\)/)
    expect(await firewallText(host)).toBe(after)
    if (backend === 'iptables') expect(after).toBe(before)

    await cni.del(att)
    await cni.del(att2)
    expect(records()).toEqual([])
  })

  it('GC prunes the records of attachments not in cni.dev/valid-attachments', async () => {
    const cni = runtime(backend)
    const [a, b] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    await cni.add(attachment(a, 'gc-keep', 8086))
    await cni.add(attachment(b, 'gc-drop', 8087))
    expect(records()).toHaveLength(4)
    await cni.gc([{ containerId: 'gc-keep', ifname: 'eth0' }])
    const left = records().map((f) => JSON.parse(readFileSync(join(stateDir, f), 'utf8')))
    expect(left.map((r) => `${r.role}:${r.containerId}`).sort()).toEqual(['bridge:gc-keep', 'portmap:gc-keep'])
  })

  it('--watch puts the rules back within seconds after a flush', async () => {
    const cni = runtime(backend)
    const pod = await node.pool.create('tscni-c')
    const result = await cni.add(attachment(pod, 'watch-1', 8082))
    const server = listen(pod, 80, 'pod-w')
    node.defer(() => server.stop())
    const watcher = execa('ip', ['netns', 'exec', host.name, join(bin, 'tscni'), 'reconcile', '--watch', '--interval', '0.5', '--state-dir', stateDir, '--cache-dir', cacheDir], { reject: false })
    node.defer(() => void watcher.kill('SIGKILL'))
    const gw = gateways(result).v4
    expect(await tcpGet(host, gw, 8082)).toBe('pod-w')
    await flush(backend)
    const flushed = Date.now()
    expect(await tcpGet(host, gw, 8082, 50)).toBe('pod-w')
    expect(Date.now() - flushed).toBeLessThan(5000)
    watcher.kill('SIGTERM')
  })

  it('after a simulated reboot releases dead attachments (addresses, rules, records) and keeps live and cached ones', async () => {
    const cni = runtime(backend)
    const [dead, cached, live] = [await node.pool.create('tscni-c'), await node.pool.create('tscni-c'), await node.pool.create('tscni-c')]
    const rDead = await cni.add(attachment(dead, 'boot-dead', 8083))
    await cni.add(attachment(cached, 'boot-cached', 8084))
    const rLive = await cni.add(attachment(live, 'boot-live', 8085))
    const server = listen(live, 80, 'pod-live')
    node.defer(() => server.stop())
    // The runtime still lists boot-cached (its own DEL will come); nothing lists boot-dead.
    writeFileSync(join(cacheDir, 'results', 'tscni-boot-cached-eth0'), JSON.stringify({ kind: 'cniCacheV1', containerId: 'boot-cached', ifName: 'eth0', networkName: 'tscni', netns: cached.path }))
    // The "reboot": both namespaces are gone (their veths with them), the data and state dirs and the rules stay.
    await execa('ip', ['netns', 'del', dead.name])
    await execa('ip', ['netns', 'del', cached.name])
    const deadIp = containerIps(rDead).v4

    const doctor = await tscni('doctor', '--state-dir', stateDir, '--cache-dir', cacheDir, '--data-dir', dataDir)
    expect(doctor.stdout).toMatch(/warn\s+dead attachments\s+2 recorded attachment\(s\) .*bridge tscni\/boot-dead\/eth0; portmap tscni\/boot-dead\/eth0/)

    const dry = await reconcile('--dry-run')
    expect(dry.stdout).toContain('would release bridge tscni/boot-dead/eth0')
    expect(Object.values(reservations(dataDir, 'tscni'))).toContain('boot-dead\r\neth0')

    const run = await reconcile()
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain('released bridge tscni/boot-dead/eth0')
    expect(run.stdout).toContain('released portmap tscni/boot-dead/eth0')
    expect(run.stdout).toContain('kept bridge tscni/boot-cached/eth0')
    const held = Object.values(reservations(dataDir, 'tscni'))
    expect(held).not.toContain('boot-dead\r\neth0')
    expect(held).toContain('boot-cached\r\neth0')
    expect(held).toContain('boot-live\r\neth0')
    const rules = await firewallText(host)
    expect(rules).not.toContain(deadIp)
    expect(rules).not.toMatch(/\b8083\b/)
    expect(rules).toMatch(/\b8085\b/)
    const left = records().map((f) => JSON.parse(readFileSync(join(stateDir, f), 'utf8')).containerId).sort()
    expect(left).toEqual(['boot-cached', 'boot-cached', 'boot-live', 'boot-live'])
    expect(await tcpGet(host, gateways(rLive).v4, 8085)).toBe('pod-live')
  })
})

describe('STATUS says why the node cannot serve an ADD (code 50)', () => {
  const status = (config: Record<string, unknown>) => runPlugin({ role: 'tscni-bridge', verb: 'STATUS', config, host, binDir: bin })
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0', name: 'st', type: 'tscni-bridge', bridge: 'stbr0', isGateway: true, ipMasq: true, stateDir,
    ipam: { type: 'tscni-host-local', dataDir, ranges: [[{ subnet: '10.88.0.0/24' }]] }, ...extra,
  })

  it('succeeds on a node that can serve an ADD', async () => {
    expect(await status(conf())).toMatchObject({ exitCode: 0, stdout: '' })
  })

  it('a device with the bridge\'s name that is not a bridge', async () => {
    await host.exec('ip', ['link', 'add', 'stbr0', 'type', 'veth', 'peer', 'name', 'stbr0p'])
    const reply = await status(conf())
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 50, msg: 'cannot serve an ADD: "stbr0" exists but is not a bridge (it is a veth device): remove it or configure another bridge name' })
  })

  it('a state dir where records cannot be written, naming it and the cause', async () => {
    writeFileSync(join(dataDir, 'file'), '')
    const reply = await status(conf({ stateDir: join(dataDir, 'file', 'state') }))
    expect(reply.json).toMatchObject({ code: 50 })
    expect(reply.json.msg).toMatch(/^cannot serve an ADD: the state directory .*\/file\/state is not writable: mkdir .*: not a directory$/)
  })

  it('no usable firewall backend for ipMasq (the tools missing from the plugin\'s PATH)', async () => {
    // A PATH with ip and flock but neither iptables nor nft.
    const tools = join(dataDir, 'tools')
    mkdirSync(tools)
    for (const t of ['ip', 'flock', 'nsenter']) symlinkSync(String((await execa('sh', ['-c', `command -v ${t}`])).stdout), join(tools, t))
    const reply = await runPlugin({ role: 'tscni-bridge', verb: 'STATUS', config: conf(), host, binDir: bin, env: { PATH: tools, TSCNI_SYSTEM_PATH: tools } })
    expect(reply.json).toMatchObject({ code: 50 })
    expect(reply.json.msg).toMatch(/cannot serve an ADD: .*(neither iptables nor nftables|not usable)/)
  })
})
