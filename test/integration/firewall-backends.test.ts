// Both firewall backends against the real kernel, each test in a throwaway namespace: install, idempotency,
// CHECK, removal by owner alone, GC, and removal of what the reference plugins left.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { BackendName, FirewallBackend } from '../../src/firewall/backend.ts'
import { createFirewall } from '../../src/firewall/select.ts'
import { nftOwnerComment } from '../../src/firewall/nft-owner.ts'
import { ownerChain } from '../../src/firewall/nft-portmap.ts'
import { silentLogger } from '../../src/plugin/log.ts'
import { NetnsPool, type TestNetns } from '../support/netns.ts'
import { systemInNetns } from '../support/system-in-netns.ts'
import { iptablesDump, masqIntent, nftDump, owner, portmapIntent } from '../support/firewall-fixtures.ts'

const pool = new NetnsPool()
afterEach(() => pool.cleanup())
// The firewall lock files of this file's tests, removed with their directory at the end.
const lockDir = mkdtempSync(join(tmpdir(), 'tscni-fw-locks-'))
afterAll(() => rmSync(lockDir, { recursive: true, force: true }))

async function setup(name: BackendName): Promise<{ ns: TestNetns; backend: FirewallBackend; dump: () => Promise<string> }> {
  const ns = await pool.create('tscni-fw')
  const fw = createFirewall(systemInNetns(ns.path), silentLogger, { lockPath: join(lockDir, `${ns.name}.lock`) })
  const backend = await fw.select(name)
  return { ns, backend, dump: () => (name === 'iptables' ? iptablesDump(ns) : nftDump(ns)) }
}

describe.each(['iptables', 'nftables'] as const)('%s backend', (name) => {
  const a = owner('ctr-a')
  const b = owner('ctr-b')
  const other = owner('ctr-a', 'net2')

  it('installs, and a repeated ensure changes nothing', async () => {
    const { backend, dump } = await setup(name)
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    const first = await dump()
    expect(first).toMatch(name === 'iptables' ? /CNI-DN-/ : /pm-/)
    expect(first).toMatch(name === 'iptables' ? /CNI-HOSTPORT-MASQ/ : /masq_checks/)
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    expect(await dump()).toBe(first)
  })

  it('verify passes, then names what is missing after tampering', async () => {
    const { ns, backend } = await setup(name)
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    await backend.verify(portmapIntent(a, 1))
    await backend.verify(masqIntent(a, 1))
    if (name === 'iptables') {
      const save = await iptablesDump(ns)
      const jump = save.split('\n').find((l) => l.startsWith('-A POSTROUTING -s 10.88.0.3/32'))!
      const chain = save.match(/:(CNI-DN-[0-9a-f]+)/)![1]!
      await ns.exec('iptables-restore', ['-w', '--noflush'], { input: `*nat\n${jump.replace('-A', '-D')}\n-F ${chain}\nCOMMIT\n` })
    } else {
      await ns.exec('nft', ['flush', 'chain', 'inet', 'tscni_hostport', ownerChain(a)])
      await ns.exec('nft', ['flush', 'chain', 'inet', 'cni_plugins_masquerade', 'masq_checks'])
    }
    await expect(backend.verify(portmapIntent(a, 1))).rejects.toThrow(/portmap .*missing: .*8080/)
    await expect(backend.verify(masqIntent(a, 1))).rejects.toThrow(/ipMasq .*missing: .*10\.88\.0\.3/)
    // ensure repairs what is owned
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    await backend.verify(portmapIntent(a, 1))
    await backend.verify(masqIntent(a, 1))
  })

  it('removes one owner without addresses or mappings, leaves other owners and networks, and tolerates a repeat', async () => {
    const { backend, dump } = await setup(name)
    for (const [o, n] of [[a, 1], [b, 2], [other, 3]] as const) {
      await backend.ensure(portmapIntent(o, n, 8000 + n))
      await backend.ensure(masqIntent(o, n))
    }
    await backend.remove('portmap', a)
    await backend.remove('masquerade', a)
    const after = await dump()
    expect(after).not.toMatch(/10\.88\.0\.3\b/)
    expect(after).not.toMatch(/8001/)
    await backend.verify(portmapIntent(b, 2, 8002))
    await backend.verify(masqIntent(b, 2))
    await backend.verify(portmapIntent(other, 3, 8003))
    await backend.verify(masqIntent(other, 3))
    await backend.remove('portmap', a)
    await backend.remove('masquerade', a)
    expect(await dump()).toBe(after)
  })

  it('remove on a pristine namespace succeeds', async () => {
    const { backend } = await setup(name)
    await backend.remove('portmap', a)
    await backend.remove('masquerade', a)
    await backend.gc('portmap', 'net1', [])
  })

  it('gc keeps valid owners of the network and removes the rest', async () => {
    const { backend } = await setup(name)
    for (const [o, n] of [[a, 1], [b, 2], [other, 3]] as const) {
      await backend.ensure(portmapIntent(o, n, 8000 + n))
      await backend.ensure(masqIntent(o, n))
    }
    await backend.gc('portmap', 'net1', [b])
    await backend.gc('masquerade', 'net1', [b])
    // CHECK of a collected owner names its missing rules (the first one differs per backend).
    const label = name === 'iptables' ? '' : 'nftables '
    await expect(backend.verify(portmapIntent(a, 1, 8001))).rejects.toMatchObject({ code: 999, message: expect.stringMatching(new RegExp(`^portmap ${label}rules for container ctr-a on network "net1" are missing: `)) })
    await expect(backend.verify(masqIntent(a, 1))).rejects.toMatchObject({ code: 999, message: expect.stringMatching(new RegExp(`^ipMasq ${label}rules for container ctr-a on network "net1" are missing: `)) })
    await backend.verify(portmapIntent(b, 2, 8002))
    await backend.verify(masqIntent(b, 2))
    await backend.verify(portmapIntent(other, 3, 8003))
    await backend.verify(masqIntent(other, 3))
  })

  it('a failed transaction reports the tool error and the script', async () => {
    const { backend } = await setup(name)
    const bad = { ...portmapIntent(a, 1), conditionsV4: name === 'iptables' ? ['--no-such-option'] : ['no such tokens'] }
    const err = await backend.ensure(bad).catch((e: unknown) => e as { message: string; details?: string })
    expect(err?.message).toMatch(name === 'iptables' ? /iptables-restore failed/ : /nft -f failed/)
    expect(err?.details).toContain('--- script ---')
    expect(err?.details).toContain(name === 'iptables' ? '--no-such-option' : 'no such tokens')
  })
})

describe('iptables: one more attachment without reading the whole nat table', () => {
  // The real netfilter in a test namespace, with the names of the tools it ran.
  async function recording(): Promise<{ ns: TestNetns; backend: FirewallBackend; ran: string[] }> {
    const ns = await pool.create('tscni-fw')
    const sys = systemInNetns(ns.path)
    const ran: string[] = []
    const netfilter = Object.fromEntries(Object.entries(sys.netfilter).map(([k, f]) => [k, (...args: unknown[]) => {
      ran.push(k)
      return (f as (...a: unknown[]) => unknown)(...args)
    }])) as unknown as typeof sys.netfilter
    const fw = createFirewall({ ...sys, netfilter }, silentLogger, { lockPath: join(lockDir, `${ns.name}.lock`) })
    return { ns, backend: await fw.select('iptables'), ran }
  }
  const a = owner('ctr-a')
  const b = owner('ctr-b')

  it('ADD and DEL of a second owner run no save and leave the table as the full path does; a repeat falls back', async () => {
    const { ns, backend, ran } = await recording()
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    const one = await iptablesDump(ns)
    ran.length = 0
    await backend.ensure(portmapIntent(b, 2, 8002))
    await backend.ensure(masqIntent(b, 2))
    expect(ran.filter((m) => m === 'save')).toEqual([])
    const two = await iptablesDump(ns)

    // The same two owners through ensureAll, which always renders from a full save.
    const full = await recording()
    await full.backend.ensureAll!([portmapIntent(a, 1), masqIntent(a, 1)])
    await full.backend.ensureAll!([portmapIntent(b, 2, 8002), masqIntent(b, 2)])
    expect(await iptablesDump(full.ns)).toBe(two)

    // A repeated ADD finds the owner's chain and falls back to the full path: still one copy of everything.
    await backend.ensure(portmapIntent(b, 2, 8002))
    await backend.ensure(masqIntent(b, 2))
    expect(await iptablesDump(ns)).toBe(two)

    ran.length = 0
    await backend.remove('portmap', b)
    await backend.remove('masquerade', b)
    // Both families: the IPv4 and IPv6 owners are removed from their entry chains, without a save.
    expect(ran.filter((m) => m === 'save')).toEqual([])
    expect(ran.filter((m) => m === 'listChain')).toHaveLength(4)
    expect(await iptablesDump(ns)).toBe(one)
    // DEL twice: nothing is found, the full path finds nothing either.
    await backend.remove('portmap', b)
    await backend.remove('masquerade', b)
    expect(await iptablesDump(ns)).toBe(one)
    await backend.verify(portmapIntent(a, 1))
    await backend.verify(masqIntent(a, 1))
  })

  it('DEL removes a chain nothing jumps to (a crash inside another ADD), and a jump from a chain of someone else', async () => {
    const { ns, backend } = await recording()
    await backend.ensure(portmapIntent(a, 1))
    await backend.ensure(masqIntent(a, 1))
    const one = await iptablesDump(ns)
    await backend.ensure(portmapIntent(b, 2, 8002))
    await backend.ensure(masqIntent(b, 2))
    const dn = (await iptablesDump(ns)).match(/-A CNI-HOSTPORT-DNAT .*ctr-b.* -j (CNI-DN-[0-9a-f]+)/)![1]!
    // ctr-b's portmap jumps gone (its chain left alone), and someone's own chain jumping to its masquerade chain.
    const save = String((await ns.exec('iptables-save', ['-t', 'nat'])).stdout)
    const jumps = save.split('\n').filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT') && l.endsWith(dn))
    const masqChainB = save.match(/-A POSTROUTING -s 10\.88\.0\.4\/32 .* -j (CNI-[0-9a-f]+)/)![1]!
    await ns.exec('iptables-restore', ['-w', '--noflush'], { input: `*nat\n${jumps.map((l) => l.replace('-A', '-D')).join('\n')}\n-N OTHER\n-A OTHER -j ${masqChainB}\nCOMMIT\n` })
    await backend.remove('portmap', b)
    await backend.remove('masquerade', b)
    const after = await iptablesDump(ns)
    expect(after).not.toContain(dn)
    expect(after).not.toContain(masqChainB)
    expect(after.replace(/^:OTHER - \[0:0\]\n/m, '')).toBe(one)
  })
})

describe('removal of what the reference plugins made', () => {
  const ref1 = owner('ref1', 'refnet')
  const ref2 = owner('ref2', 'refnet')

  it('iptables: DEL and GC find the reference chains by name and comment', async () => {
    const { ns, backend } = await setup('iptables')
    const seed = readFileSync(new URL('../fixtures/firewall/reference-seed-v4.rules', import.meta.url), 'utf8')
    await ns.exec('iptables-restore', ['-w', '--noflush'], { input: seed })
    await backend.remove('portmap', ref1)
    await backend.remove('masquerade', ref1)
    let dump = await iptablesDump(ns)
    expect(dump).not.toMatch(/ref1|CNI-DN-fb539a2ef5304ef7f1a65|CNI-fb539a2ef5304ef7f1a651af/)
    expect(dump).toMatch(/CNI-DN-68398ec88eee536140c76/)
    expect(dump).toMatch(/CNI-HOSTPORT-SETMARK -m comment/)
    await backend.gc('portmap', 'refnet', [])
    await backend.gc('masquerade', 'refnet', [])
    dump = await iptablesDump(ns)
    expect(dump).not.toMatch(/ref2|CNI-DN-68398|CNI-68398/)
    // shared chains and their entry rules stay
    expect(dump).toMatch(/-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT/)
  })

  it('nftables: the reference masquerade table is shared; DEL and GC use its comments', async () => {
    const { ns, backend } = await setup('nftables')
    const t = 'inet cni_plugins_masquerade'
    const seed = [
      `add table ${t} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
      `add chain ${t} masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      `add chain ${t} postrouting { type nat hook postrouting priority srcnat ; }`,
      `add rule ${t} postrouting ip daddr == 224.0.0.0/4 return`,
      `add rule ${t} postrouting ip6 daddr == ff00::/8 return`,
      `add rule ${t} postrouting goto masq_checks`,
      `add rule ${t} masq_checks ip saddr == 10.0.1.5 ip daddr != 10.0.1.0/24 masquerade comment "${nftOwnerComment(ref1)}"`,
      `add rule ${t} masq_checks ip saddr == 10.0.1.6 ip daddr != 10.0.1.0/24 masquerade comment "${nftOwnerComment(ref2)}"`,
    ].join('\n')
    await ns.exec('nft', ['-f', '-'], { input: `${seed}\n` })
    await backend.remove('masquerade', ref1)
    let dump = await nftDump(ns)
    expect(dump).not.toContain('10.0.1.5')
    expect(dump).toContain('10.0.1.6')
    // our ensure for a new container leaves the reference's rules and postrouting chain as they are
    await backend.ensure(masqIntent(owner('mine', 'refnet'), 9))
    dump = await nftDump(ns)
    expect(dump).toContain('10.0.1.6')
    await backend.gc('masquerade', 'refnet', [owner('mine', 'refnet')])
    dump = await nftDump(ns)
    expect(dump).not.toContain('10.0.1.6')
    await backend.verify(masqIntent(owner('mine', 'refnet'), 9))
  })
})
