// host-local through the built executable: result shapes per version (against the reference), requested IPs,
// idempotent ADD, exhaustion, GC, STATUS and hostile input. No network state: host-local only touches files.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { firstIp, hostLocal, hostLocalOk, ipamConfig, netFiles, reservations, TempDirs } from '../support/host-local.ts'
import { runPlugin } from '../support/run-plugin.ts'

const temp = new TempDirs()
afterEach(() => temp.cleanup())

const DUAL = { ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: '2001:db8:1::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: '2001:db8:1::1' }] }

describe.each(['0.2.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('ADD, CHECK, DEL with cniVersion %s', (version) => {
  it('prints the version\'s result shape, writes the reference files, and DEL removes them', async () => {
    const dataDir = temp.make()
    const resolv = join(temp.make(), 'resolv.conf')
    writeFileSync(resolv, 'nameserver 192.0.2.53\nsearch example.com\n')
    const config = ipamConfig(dataDir, { ...DUAL, resolvConf: resolv }, {}, version)
    const add = await hostLocalOk('tscni', 'ADD', config, 'ctr1')

    // The reference prints the same bytes-level JSON for the versions it knows (Debian's build stops at 1.0.0).
    if (version !== '1.1.0') {
      const refDir = temp.make()
      const ref = await hostLocalOk('reference', 'ADD', ipamConfig(refDir, { ...DUAL, resolvConf: resolv }, {}, version), 'ctr1')
      expect(add.json).toEqual(ref.json)
      expect(netFiles(dataDir)).toEqual(netFiles(refDir))
    }
    const dns = { nameservers: ['192.0.2.53'], search: ['example.com'] }
    if (version === '0.2.0') {
      expect(add.json).toEqual({
        cniVersion: '0.2.0',
        ip4: { ip: '10.1.2.2/24', gateway: '10.1.2.1', routes: [{ dst: '0.0.0.0/0' }] },
        ip6: { ip: '2001:db8:1::2/64', gateway: '2001:db8:1::1', routes: [{ dst: '::/0', gw: '2001:db8:1::1' }] },
        dns,
      })
    } else {
      const legacy = version.startsWith('0.')
      expect(add.json).toEqual({
        cniVersion: version,
        ips: [
          { ...(legacy ? { version: '4' } : {}), address: '10.1.2.2/24', gateway: '10.1.2.1' },
          { ...(legacy ? { version: '6' } : {}), address: '2001:db8:1::2/64', gateway: '2001:db8:1::1' },
        ],
        routes: DUAL.routes,
        dns,
      })
    }
    expect(netFiles(dataDir)).toEqual({
      '10.1.2.2': 'ctr1\r\neth0',
      '2001:db8:1::2': 'ctr1\r\neth0',
      'last_reserved_ip.0': '10.1.2.2',
      'last_reserved_ip.1': '2001:db8:1::2',
      lock: '',
    })

    if (version >= '0.4.0') await hostLocalOk('tscni', 'CHECK', config, 'ctr1')
    await hostLocalOk('tscni', 'DEL', config, 'ctr1')
    expect(reservations(dataDir)).toEqual({})
    if (version >= '0.4.0') {
      const check = await hostLocal('tscni', 'CHECK', config, 'ctr1')
      expect(check.exitCode).toBe(1)
      expect(check.json.msg).toBe('host-local: Failed to find address added by container ctr1')
    }
    await hostLocalOk('tscni', 'DEL', config, 'ctr1') // a second DEL succeeds
  })
})

describe('ADD', () => {
  it('through the standard name "host-local" (a link to tscni in the test bin dir)', async () => {
    const dataDir = temp.make()
    const reply = await runPlugin({ role: 'host-local', verb: 'ADD', config: ipamConfig(dataDir, { subnet: '10.5.0.0/24' }), containerId: 'c1', netns: '/x', ifname: 'eth0' })
    expect(reply.exitCode).toBe(0)
    expect(reply.json.ips).toEqual([{ address: '10.5.0.2/24', gateway: '10.5.0.1' }])
  })

  it('0.2.0 refuses two IPv4 range sets', async () => {
    const dataDir = temp.make()
    const reply = await hostLocal('tscni', 'ADD', ipamConfig(dataDir, { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] }, {}, '0.2.0'), 'c1')
    expect(reply.json).toMatchObject({ code: 7, msg: 'CNI version 0.2.0 does not support more than 1 address per family' })
    expect(existsSync(join(dataDir, 'testnet'))).toBe(false)
  })

  it('overlapping range sets are rejected with code 7 naming them', async () => {
    const dataDir = temp.make()
    const reply = await hostLocal('tscni', 'ADD', ipamConfig(dataDir, { ranges: [[{ subnet: '10.1.0.0/16' }], [{ subnet: '10.1.2.0/24' }]] }), 'c1')
    expect(reply.json).toMatchObject({ code: 7, msg: 'range set 0 overlaps with 1' })
  })

  it('a second ADD of the same attachment returns the same addresses (idempotent); another container gets the next', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, DUAL)
    const first = await hostLocalOk('tscni', 'ADD', config, 'ctr1')
    const again = await hostLocalOk('tscni', 'ADD', config, 'ctr1')
    expect(again.json).toEqual(first.json)
    const other = await hostLocalOk('tscni', 'ADD', config, 'ctr2')
    expect(other.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.1.2.3/24', '2001:db8:1::3/64'])
    expect(Object.keys(reservations(dataDir))).toHaveLength(4)
  })
})

describe('requested addresses', () => {
  const ranges = { ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: '2001:db8:1::/64' }]] }
  it.each([
    ['CNI_ARGS IP=', {}, 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.2.50'],
    ['args.cni.ips', { args: { cni: { ips: ['10.1.2.50', '2001:db8:1::50'] } } }, undefined],
    ['runtimeConfig.ips', { runtimeConfig: { ips: ['10.1.2.50/24', '2001:db8:1::50/64'] } }, undefined],
  ])('%s', async (_name, extra, args) => {
    const dataDir = temp.make()
    const reply = await hostLocalOk('tscni', 'ADD', ipamConfig(dataDir, ranges, extra), 'ctr1', { args })
    expect(firstIp(reply)).toBe('10.1.2.50')
    expect(reservations(dataDir)['10.1.2.50']).toBe('ctr1\r\neth0')
    if (args === undefined) expect(firstIp(reply, 1)).toBe('2001:db8:1::50')
  })

  it('an address outside every range fails and leaves nothing reserved', async () => {
    const dataDir = temp.make()
    const reply = await hostLocal('tscni', 'ADD', ipamConfig(dataDir, ranges, { runtimeConfig: { ips: ['10.9.9.9'] } }), 'ctr1')
    expect(reply.json.msg).toBe('failed to allocate all requested IPs: 10.9.9.9')
    expect(reservations(dataDir)).toEqual({})
  })
})

describe('exhaustion', () => {
  it('names the range set, with the reference wording, and a failed dual-stack ADD leaves nothing reserved', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { ranges: [[{ subnet: '2001:db8:9::/64' }], [{ subnet: '10.9.0.0/30' }]] })
    await hostLocalOk('tscni', 'ADD', config, 'ctr1')
    const before = netFiles(dataDir)
    const reply = await hostLocal('tscni', 'ADD', config, 'ctr2')
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'failed to allocate for range 1: no IP addresses available in range set: 10.9.0.1-10.9.0.2' })
    expect(netFiles(dataDir)).toEqual(before) // the IPv6 address reserved on the way was released, last_reserved untouched
  })
})

describe('GC', () => {
  async function populated(): Promise<{ dataDir: string; config: Record<string, unknown> }> {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, DUAL, {}, '1.1.0')
    for (const id of ['a', 'b', 'c']) await hostLocalOk('tscni', 'ADD', config, id)
    writeFileSync(join(dataDir, 'testnet', '10.1.2.100'), 'legacy') // written by an old reference version
    return { dataDir, config }
  }
  const gc = (config: Record<string, unknown>, extra: Record<string, unknown>) => hostLocalOk('tscni', 'GC', { ...config, ...extra })
  const owners = (dataDir: string) => [...new Set(Object.values(reservations(dataDir)))].sort()

  it('without a valid-attachments key releases nothing', async () => {
    const { dataDir, config } = await populated()
    const before = netFiles(dataDir)
    await gc(config, {})
    expect(netFiles(dataDir)).toEqual(before)
  })

  it('a partial list keeps exactly the listed attachments; lock and last_reserved_ip.* stay', async () => {
    const { dataDir, config } = await populated()
    await gc(config, { 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }, { containerID: 'c', ifname: 'eth1' }] })
    expect(owners(dataDir)).toEqual(['b\r\neth0'])
    expect(Object.keys(netFiles(dataDir))).toEqual(expect.arrayContaining(['lock', 'last_reserved_ip.0', 'last_reserved_ip.1']))
  })

  it('the older cni.dev/attachments key works, and a legacy file stays while its container id is valid', async () => {
    const { dataDir, config } = await populated()
    await gc(config, { 'cni.dev/attachments': [{ containerID: 'legacy', ifname: 'eth0' }, { containerID: 'a', ifname: 'eth0' }] })
    expect(owners(dataDir)).toEqual(['a\r\neth0', 'legacy'])
  })

  it('an empty list releases every reservation', async () => {
    const { dataDir, config } = await populated()
    await gc(config, { 'cni.dev/valid-attachments': [] })
    expect(netFiles(dataDir)).toEqual({ 'last_reserved_ip.0': '10.1.2.4', 'last_reserved_ip.1': '2001:db8:1::4', lock: '' })
  })
})

describe('STATUS', () => {
  const status = (config: Record<string, unknown>) => hostLocal('tscni', 'STATUS', config)

  it('succeeds with nothing on stdout when the data dir is writable and addresses are free', async () => {
    const reply = await status(ipamConfig(temp.make(), DUAL, {}, '1.1.0'))
    expect([reply.exitCode, reply.stdout]).toEqual([0, ''])
  })

  it('code 50 when the data dir cannot be created', async () => {
    const dir = temp.make()
    writeFileSync(join(dir, 'file'), '')
    const reply = await status(ipamConfig(join(dir, 'file', 'data'), DUAL, {}, '1.1.0'))
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 50, msg: expect.stringContaining('is not writable') })
  })

  it('code 50 when the data dir is on a read-only mount', async () => {
    const dir = temp.make()
    mkdirSync(join(dir, 'testnet'))
    execFileSync('mount', ['--bind', dir, dir])
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', dir])
      const reply = await status(ipamConfig(dir, DUAL, {}, '1.1.0'))
      expect(reply.json).toMatchObject({ code: 50, msg: expect.stringContaining('read-only') })
    } finally {
      execFileSync('umount', [dir])
    }
  })

  it('code 50 when a range set is exhausted, 0 again after a DEL', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, { ranges: [[{ subnet: '10.9.0.0/30' }]] }, {}, '1.1.0')
    await hostLocalOk('tscni', 'ADD', config, 'ctr1')
    expect((await status(config)).json).toEqual({ cniVersion: '1.1.0', code: 50, msg: 'no IP addresses available in range set: 0 (10.9.0.1-10.9.0.2)' })
    await hostLocalOk('tscni', 'DEL', config, 'ctr1')
    expect((await status(config)).exitCode).toBe(0)
  })
})

describe('hostile input', () => {
  // dataDir is <root>/data; nothing may appear anywhere under <root> but data/ (and its network directory).
  function sandbox(): { root: string; dataDir: string } {
    const root = temp.make()
    const dataDir = join(root, 'data')
    mkdirSync(dataDir)
    return { root, dataDir }
  }
  const everything = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String).sort()

  it.each([
    ['CNI_CONTAINERID ../../x', { env: { CNI_CONTAINERID: '../../x' } }, 4],
    ['CNI_CONTAINERID with a slash', { env: { CNI_CONTAINERID: 'a/b' } }, 4],
    ['CNI_IFNAME with a slash', { env: { CNI_IFNAME: '../e' } }, 4],
    ['CNI_IFNAME ..', { env: { CNI_IFNAME: '..' } }, 4],
  ])('%s is refused by ADD and DEL and creates nothing', async (_name, extra, code) => {
    const { root, dataDir } = sandbox()
    for (const verb of ['ADD', 'DEL'] as const) {
      const reply = await hostLocal('tscni', verb, ipamConfig(dataDir, DUAL), 'ctr1', extra)
      expect(reply.json).toMatchObject({ code })
    }
    expect(everything(root)).toEqual(['data'])
  })

  it('CNI_ARGS IP=../../etc/passwd is refused by ADD (code 4); DEL, which needs no address, succeeds; nothing is created', async () => {
    const { root, dataDir } = sandbox()
    const add = await hostLocal('tscni', 'ADD', ipamConfig(dataDir, DUAL), 'ctr1', { args: 'IP=../../etc/passwd' })
    expect(add.json).toMatchObject({ code: 4, msg: 'cannot understand ip: CNI_ARGS IP="../../etc/passwd" is not an IP address' })
    const del = await hostLocal('tscni', 'DEL', ipamConfig(dataDir, DUAL), 'ctr1', { args: 'IP=../../etc/passwd' })
    expect(del.exitCode).toBe(0)
    expect(everything(root)).toEqual(['data'])
  })

  it.each([
    ['args.cni.ips', { args: { cni: { ips: ['../../etc/passwd'] } } }],
    ['runtimeConfig.ips', { runtimeConfig: { ips: ['../../../x'] } }],
    ['runtimeConfig.ipRanges', { runtimeConfig: { ipRanges: [[{ subnet: '../../x/24' }]] } }],
  ])('a path as a requested address in %s is refused with code 7', async (_name, extra) => {
    const { root, dataDir } = sandbox()
    const reply = await hostLocal('tscni', 'ADD', ipamConfig(dataDir, DUAL, extra), 'ctr1')
    expect(reply.json).toMatchObject({ code: 7 })
    expect(everything(root)).toEqual(['data'])
  })

  it.each(['a/b', '..', '../../etc'])('network name %j is refused with code 7 on every verb', async (name) => {
    const { root, dataDir } = sandbox()
    for (const verb of ['ADD', 'DEL', 'CHECK'] as const) {
      const reply = await hostLocal('tscni', verb, ipamConfig(dataDir, DUAL, {}, '1.0.0', name), 'ctr1')
      expect(reply.json).toMatchObject({ code: 7 })
    }
    expect(everything(root)).toEqual(['data'])
  })
})
