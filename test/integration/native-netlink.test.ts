// The native addon and the rtnetlink ip port on the real kernel, inside throwaway namespaces: links read through
// netlink equal what `ip -j -d addr show` reports, a batch applied through netlink leaves the same links and routes
// as the same batch through `ip -batch`, kernel refusals carry their errno, container sysctls are written inside the
// container, and a plugin whose temp dir is noexec still works through the tools and says so at debug level.
import { execa } from 'execa'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createExec } from '../../src/system/exec.ts'
import { createIp, type IpOp, type IpTool } from '../../src/system/ip.ts'
import type { IpLink } from '../../src/system/ip-json.ts'
import type { Native } from '../../src/system/native.ts'
import { createNetlinkIp, NetlinkError } from '../../src/system/netlink.ts'
import { SystemError } from '../../src/system/errors.ts'
import { makeBinDir, makeDataDir } from '../support/bridge.ts'
import { NetnsPool } from '../support/netns.ts'

const pool = new NetnsPool()
const cleanups: Array<() => void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c()
  await pool.cleanup()
})

function addon(): Native {
  const mod = { exports: {} as Native }
  process.dlopen(mod, resolve('dist/tscni-native.node'))
  return mod.exports
}

const tools: IpTool = createIp(createExec(process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'))

// M-DOWN depends on another link's state at the moment ip printed; nothing in tscni reads it.
const comparable = (links: IpLink[]) => links.map((l) => ({ ...l, flags: l.flags.filter((f) => f !== 'M-DOWN') }))

function opsFor(ctrPath: string): IpOp[] {
  return [
    { op: 'bridge-add', name: 'br1', mac: '0a:58:0a:30:00:01', mtu: 1400 },
    { op: 'link-set', name: 'br1', up: true },
    { op: 'addr-add', cidr: '10.48.0.1/16', dev: 'br1' },
    { op: 'addr-add', cidr: 'fd48::1/64', dev: 'br1', nodad: true },
    { op: 'veth-add', a: { name: 'vh1', mac: '0a:58:0a:30:00:02', mtu: 1400 }, b: { name: 'eth0', mac: '0a:58:0a:30:00:03', mtu: 1400, netns: ctrPath } },
    { op: 'link-set', name: 'vh1', master: 'br1', up: true },
    { op: 'port-flags', name: 'vh1', hairpin: true },
    { op: 'route-add', route: { dst: '10.49.0.0/16', gw: '10.48.0.9', dev: 'br1', metric: 50 } },
    { op: 'route-add', route: { dst: 'fd49::/64', dev: 'br1', table: 1000 } },
  ]
}
const containerOps: IpOp[] = [
  { op: 'addr-add', cidr: '10.48.0.5/16', dev: 'eth0' },
  { op: 'link-set', name: 'eth0', up: true },
  { op: 'route-add', route: { dst: '0.0.0.0/0', gw: '10.48.0.1', dev: 'eth0' } },
]

describe('rtnetlink ip port', () => {
  it('a batch through netlink leaves the links and routes ip -batch leaves, and reads them back identically', async () => {
    const nl = createNetlinkIp(addon(), tools)
    const results: Array<{ links: unknown; ctr: unknown; routes: unknown; ctrRoutes: unknown; nlLinks: unknown; nlCtr: unknown; nlRoutes: unknown; nlCtrRoutes: unknown }> = []
    for (const impl of [nl, tools]) {
      const host = await pool.create('tscni-nl-h')
      const ctr = await pool.create('tscni-nl-c')
      const inHost = { netns: host.path }
      // Everything runs in the throwaway namespaces: the host side through its netns too.
      const hostSide = opsFor(ctr.path)
      await impl.batch(hostSide, inHost)
      await impl.batch(containerOps, { netns: ctr.path })
      results.push({
        links: comparable(await tools.links(inHost)),
        ctr: comparable(await tools.links({ netns: ctr.path })),
        routes: await tools.routes(inHost),
        ctrRoutes: await tools.routes({ netns: ctr.path }),
        nlLinks: comparable(await nl.links(inHost)),
        nlCtr: comparable(await nl.links({ netns: ctr.path })),
        nlRoutes: await nl.routes(inHost),
        nlCtrRoutes: await nl.routes({ netns: ctr.path }),
      })
    }
    const [viaNetlink, viaTools] = results
    expect(viaNetlink!.links).toEqual(viaTools!.links)
    expect(viaNetlink!.ctr).toEqual(viaTools!.ctr)
    expect(viaNetlink!.routes).toEqual(viaTools!.routes)
    expect(viaNetlink!.ctrRoutes).toEqual(viaTools!.ctrRoutes)
    // Reads: netlink's view of each namespace equals iproute2's.
    expect(viaTools!.nlLinks).toEqual(viaTools!.links)
    expect(viaTools!.nlCtr).toEqual(viaTools!.ctr)
    expect(viaTools!.nlRoutes).toEqual(viaTools!.routes)
    expect(viaTools!.nlCtrRoutes).toEqual(viaTools!.ctrRoutes)
    const br = (viaTools!.links as IpLink[]).find((l) => l.ifname === 'br1')!
    expect(br.addrs.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(expect.arrayContaining(['10.48.0.1/16', 'fd48::1/64']))
  })

  it('reads every kind of route as ip -j route show table all prints it', async () => {
    const host = await pool.create('tscni-nl-h')
    const setup = [
      'link add d0 type veth peer name d1', 'link set d0 up', 'link set d1 up', 'addr add 10.9.0.2/24 dev d0', 'addr add fd09::2/64 dev d0 nodad',
      'route add default via 10.9.0.1', 'route add 10.10.0.0/16 via 10.9.0.1 metric 100', 'route add fd10::/64 via fd09::1 proto 77',
      'route add blackhole 10.11.0.0/16', 'route add 10.12.0.5 dev d0 scope link', 'route add unreachable 10.13.0.0/16 table 1000',
      'route add 10.14.0.0/16 via 10.9.0.1 proto static', 'route add prohibit fd11::/64', 'route add ::/0 via fd09::1 dev d0 table 7',
    ]
    for (const line of setup) await host.exec('ip', line.split(' '))
    const nl = createNetlinkIp(addon(), tools)
    const [viaNetlink, viaTools] = [await nl.routes({ netns: host.path }), await tools.routes({ netns: host.path })]
    expect(viaNetlink).toEqual(viaTools)
    expect(viaNetlink).toEqual(expect.arrayContaining([
      { dst: 'fd10::/64', gateway: 'fd09::1', dev: 'd0', protocol: '77', metric: 1024 },
      { dst: '10.12.0.5', dev: 'd0', scope: 'link' },
      { dst: 'default', gateway: 'fd09::1', dev: 'd0', table: '7', metric: 1024 },
    ]))
  })

  it('reads one device by name, and an empty list for a missing one', async () => {
    const host = await pool.create('tscni-nl-h')
    await host.exec('ip', ['link', 'add', 'br2', 'type', 'bridge'])
    const nl = createNetlinkIp(addon(), tools)
    expect(comparable(await nl.links({ dev: 'br2', netns: host.path }))).toEqual(comparable(await tools.links({ dev: 'br2', netns: host.path })))
    expect(await nl.links({ dev: 'nope0', netns: host.path })).toEqual([])
  })

  it('batchThenShow and inspect (the loopback role) answer as the tools do', async () => {
    const a = await pool.create('tscni-nl-c')
    const b = await pool.create('tscni-nl-c')
    const nl = createNetlinkIp(addon(), tools)
    const up: IpOp[] = [{ op: 'link-set', name: 'lo', up: true }]
    const shown = [comparable(await nl.batchThenShow(up, 'lo', { netns: a.path })), comparable(await tools.batchThenShow(up, 'lo', { netns: b.path }))]
    expect(shown[0]).toEqual(shown[1])
    expect(shown[0]![0]!.flags).toContain('UP')
    const keys = ['net/ipv6/conf/lo/disable_ipv6', 'net/ipv4/conf/lo/nope']
    const inspected = [await nl.inspect('lo', a.path, keys), await tools.inspect('lo', b.path, keys)]
    expect({ ...inspected[0], links: comparable(inspected[0]!.links) }).toEqual({ ...inspected[1], links: comparable(inspected[1]!.links) })
    expect(inspected[0]!.sysctls).toEqual(['0', undefined])
    expect((await nl.inspect('nope0', a.path, [])).links).toEqual([])
    // down again (the loopback role's DEL): the change mask carries IFF_UP with the flag cleared
    await nl.batch([{ op: 'link-set', name: 'lo', up: false }], { netns: a.path })
    expect((await tools.links({ dev: 'lo', netns: a.path }))[0]!.flags).not.toContain('UP')
  })

  it('refusals carry the errno and the index of the failed op; later ops are not applied', async () => {
    const host = await pool.create('tscni-nl-h')
    const nl = createNetlinkIp(addon(), tools)
    await nl.batch([{ op: 'bridge-add', name: 'br3' }], { netns: host.path })
    const err = await nl.batch([{ op: 'link-set', name: 'br3', up: true }, { op: 'bridge-add', name: 'br3' }, { op: 'bridge-add', name: 'br4' }], { netns: host.path }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NetlinkError)
    expect(err).toMatchObject({ errno: 'EEXIST', index: 1, message: 'ip link add name br3 type bridge: File exists' })
    expect(nl.failure(err)).toEqual({ index: 1, exists: true, noDevice: false })
    expect(await nl.links({ dev: 'br4', netns: host.path })).toEqual([])
    const gone = await nl.batch([{ op: 'link-del', name: 'nope0' }], { netns: host.path }).catch((e: unknown) => e)
    expect(nl.failure(gone)).toEqual({ index: 0, exists: false, noDevice: true })
    const missingNs = await nl.batch([{ op: 'link-del', name: 'x' }], { netns: '/run/netns/tscni-no-such-ns' }).catch((e: unknown) => e)
    expect(missingNs).toBeInstanceOf(SystemError)
    expect(missingNs).toMatchObject({ reason: 'not-found' })
  })

  it('writes container sysctls inside the container namespace; a required one that cannot be written stops the batch', async () => {
    const host = await pool.create('tscni-nl-h')
    const ctr = await pool.create('tscni-nl-c')
    const nl = createNetlinkIp(addon(), tools)
    const before = String((await host.exec('cat', ['/proc/sys/net/ipv4/conf/lo/arp_notify'])).stdout).trim()
    await nl.batch([{ op: 'link-set', name: 'lo', up: true }], { netns: ctr.path, sysctls: [{ key: 'net/ipv4/conf/lo/arp_notify', value: '1' }, { key: 'net/ipv4/conf/nope/x', value: '1', optional: true }] })
    expect(String((await ctr.exec('cat', ['/proc/sys/net/ipv4/conf/lo/arp_notify'])).stdout).trim()).toBe('1')
    expect(String((await host.exec('cat', ['/proc/sys/net/ipv4/conf/lo/arp_notify'])).stdout).trim()).toBe(before)
    const err = await nl.batch([{ op: 'bridge-add', name: 'br5' }], { netns: ctr.path, sysctls: [{ key: 'net/ipv4/conf/nope/x', value: '1' }] }).catch((e: unknown) => e)
    expect(err).toMatchObject({ reason: 'not-found', message: expect.stringContaining('cannot write 1 to /proc/sys/net/ipv4/conf/nope/x') })
    expect(await nl.links({ dev: 'br5', netns: ctr.path })).toEqual([])
  })
})

describe('the executable', () => {
  it('by default an ADD and DEL of bridge+host-local run no ip, nsenter or flock process', async () => {
    const host = await pool.create('tscni-nl-h')
    const ctr = await pool.create('tscni-nl-c')
    const bin = makeBinDir()
    const data = makeDataDir()
    cleanups.push(bin.cleanup, data.cleanup)
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'nlnet', type: 'bridge', bridge: 'nl0', isGateway: true, ipam: { type: 'host-local', dataDir: data.dir, ranges: [[{ subnet: '10.66.0.0/16' }], [{ subnet: 'fd66::/64' }]] } })
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TSCNI_STATE_DIR: process.env.TSCNI_STATE_DIR ?? '', TSCNI_LOG_LEVEL: 'debug', CNI_CONTAINERID: 'c1', CNI_NETNS: ctr.path, CNI_IFNAME: 'eth0', CNI_PATH: bin.dir }
    const add = await host.exec('env', ['-i', ...Object.entries({ ...env, CNI_COMMAND: 'ADD' }).map(([k, v]) => `${k}=${v}`), join(bin.dir, 'bridge')], { input: conf })
    expect(JSON.parse(String(add.stdout)).ips.map((i: { address: string }) => i.address)).toEqual(['10.66.0.2/16', 'fd66::2/64'])
    expect(String(add.stderr)).toContain('native addon loaded')
    expect(String(add.stderr)).not.toMatch(/ms: (ip|nsenter|flock|sh) /)
    const [eth0] = await ctr.ipJson<Array<{ addr_info: Array<{ local: string }> }>>(['addr', 'show', 'dev', 'eth0'])
    expect(eth0!.addr_info.map((a) => a.local)).toEqual(expect.arrayContaining(['10.66.0.2', 'fd66::2']))
    const del = await host.exec('env', ['-i', ...Object.entries({ ...env, CNI_COMMAND: 'DEL' }).map(([k, v]) => `${k}=${v}`), join(bin.dir, 'bridge')], { input: conf })
    expect(String(del.stderr)).not.toMatch(/ms: (ip|nsenter|flock|sh) /)
    expect(await ctr.ipJson(['link', 'show', 'dev', 'eth0']).catch(() => [])).toEqual([])
  })

  it('falls back to the tools when the temp dir is noexec, and says so at debug level', async () => {
    const host = await pool.create('tscni-nl-h')
    const ctr = await pool.create('tscni-nl-c')
    const bin = makeBinDir()
    const data = makeDataDir()
    const noexec = mkdtempSync(join(tmpdir(), 'tscni-noexec-'))
    cleanups.push(bin.cleanup, data.cleanup, () => rmSync(noexec, { recursive: true, force: true }))
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'nlnet', type: 'bridge', bridge: 'nl0', ipam: { type: 'host-local', dataDir: data.dir, ranges: [[{ subnet: '10.67.0.0/16' }]] } })
    // A private mount namespace: the noexec tmpfs exists only for this one plugin call.
    const script = `mount -t tmpfs -o noexec,size=1m tscni-noexec "${noexec}" && exec ip netns exec ${host.name} env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR="${noexec}" TSCNI_STATE_DIR="${process.env.TSCNI_STATE_DIR ?? ''}" TSCNI_NETLINK=1 TSCNI_LOG_LEVEL=debug CNI_COMMAND=ADD CNI_CONTAINERID=c2 CNI_NETNS=${ctr.path} CNI_IFNAME=eth0 CNI_PATH=${bin.dir} ${join(bin.dir, 'bridge')}`
    const res = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { input: conf, reject: false })
    expect(res.exitCode).toBe(0)
    expect(JSON.parse(res.stdout).ips[0].address).toBe('10.67.0.2/16')
    expect(res.stderr).toMatch(/native addon not used \(cannot load the addon from .*tscni-native-.*\): flock\(1\) takes the locks/)
    expect(res.stderr).toMatch(/ms: flock /)
  })
})
