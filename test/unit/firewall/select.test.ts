// Backend choice: explicit config wins, then iptables, then nftables, else an error naming both; which probes run.
import { describe, expect, it } from 'vitest'
import { createFirewall, selectBackend } from '../../../src/firewall/select.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { CniError } from '../../../src/plugin/errors.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { SystemError } from '../../../src/system/errors.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

describe('selectBackend', () => {
  it.each([
    ['iptables', true, true, 'iptables'],
    ['nftables', true, true, 'nftables'],
    ['nftables', true, false, 'nftables'],
    ['iptables', false, true, 'iptables'],
    [undefined, true, true, 'iptables'],
    [undefined, true, false, 'iptables'],
    [undefined, false, true, 'nftables'],
  ] as const)('configured %s, iptables %s, nft %s -> %s', (configured, iptables, nftables, want) => {
    expect(selectBackend(configured, { iptables, nftables })).toBe(want)
  })
  it('names both tools when neither works', () => {
    expect(() => selectBackend(undefined, { iptables: false, nftables: false })).toThrow(CniError)
    expect(() => selectBackend(undefined, { iptables: false, nftables: false })).toThrow(/neither iptables nor nftables/)
  })
})

describe('createFirewall probes', () => {
  const owner = { network: 'net1', containerId: 'c1', ifname: 'eth0' }
  const probes = (sys: ReturnType<typeof createFakeSystem>) => sys.calls.filter((c) => c.method.endsWith('Usable')).map((c) => `${c.method}(${c.args.join(',')})`)

  const masq = { kind: 'masquerade' as const, owner, addresses: [parseCidr('10.1.0.2/16')!] }
  const lock = { lockPath: '/tmp/tscni-unit-fw.lock' }
  const noTool = (cmd: string) => () => { throw new SystemError({ cmd, args: [], message: `cannot run ${cmd}` }) }

  it('the automatic choice is iptables without a probe while iptables works', async () => {
    const sys = createFakeSystem()
    const backend = await createFirewall(sys, silentLogger, lock).select()
    await backend.ensure(masq)
    expect(backend.name).toBe('iptables')
    expect(probes(sys)).toEqual([])
    expect(sys.callsOf('netfilter.restore')).toHaveLength(1)
  })

  it('an iptables call that fails where iptables is unusable goes to nftables, and the next ones too', async () => {
    const sys = createFakeSystem()
      .on('netfilter.save', noTool('iptables-save'))
      .on('netfilter.restore', noTool('iptables-restore'))
      .on('netfilter.iptablesUsable', () => false)
      .on('netfilter.nftUsable', () => true)
    const backend = await createFirewall(sys, silentLogger, lock).select()
    await backend.ensure(masq)
    expect(backend.name).toBe('nftables')
    expect(sys.callsOf('netfilter.nftApply')).toHaveLength(1)
    await backend.remove('masquerade', owner)
    expect(probes(sys)).toEqual(['netfilter.iptablesUsable(4)', 'netfilter.nftUsable()'])
    expect(sys.callsOf('netfilter.save')).toHaveLength(1)
  })

  it('a failure of a usable iptables stands; with neither tool usable the error names both', async () => {
    const broken = createFakeSystem().on('netfilter.restore', () => { throw new SystemError({ cmd: 'iptables-restore', args: [], exitCode: 1, stderr: 'iptables-restore: line 3 failed' }) })
    const backend = await createFirewall(broken, silentLogger, lock).select()
    await expect(backend.ensure(masq)).rejects.toThrow(/line 3 failed|iptables-restore/)
    expect(backend.name).toBe('iptables')
    expect(probes(broken)).toEqual(['netfilter.iptablesUsable(4)'])
    const none = createFakeSystem()
      .on('netfilter.save', noTool('iptables-save'))
      .on('netfilter.restore', noTool('iptables-restore'))
      .on('netfilter.iptablesUsable', () => false)
      .on('netfilter.nftUsable', () => false)
    await expect((await createFirewall(none, silentLogger, lock).select()).ensure(masq)).rejects.toThrow(/neither iptables nor nftables/)
  })

  it('a configured backend is used as configured, without a probe', async () => {
    const sys = createFakeSystem()
    expect((await createFirewall(sys, silentLogger, lock).select('nftables')).name).toBe('nftables')
    expect(probes(sys)).toEqual([])
  })

  it('DEL removes from both backends and both families without a single probe when the tools work', async () => {
    const sys = createFakeSystem()
    for (const b of createFirewall(sys, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).removable()) await b.remove('portmap', owner)
    expect(probes(sys)).toEqual([])
    expect(sys.callsOf('netfilter.save').map((c) => c.args[0])).toEqual([4, 6])
    expect(sys.callsOf('netfilter.nftList')).toHaveLength(1)
  })

  it('DEL with the attachment\'s recorded intent deletes its rules by name in its families only, reading nothing', async () => {
    const sys = createFakeSystem()
    const [ipt] = createFirewall(sys, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).removable(['iptables'])
    await ipt!.remove('masquerade', owner, [masq])
    const scripts = sys.callsOf('netfilter.restore').map((c) => `${c.args[0]}: ${String(c.args[1])}`)
    expect(scripts).toHaveLength(1)
    expect(scripts[0]).toMatch(/^4: \*nat\n-D POSTROUTING -s 10\.1\.0\.2 -j (CNI-[0-9a-f]{24}) -m comment --comment "name: \\"net1\\" id: \\"c1\\""\n:\1 - \[0:0\]\n-X \1\nCOMMIT\n$/)
    expect([sys.callsOf('netfilter.listChain'), sys.callsOf('netfilter.save'), sys.callsOf('netfilter.nftList')]).toEqual([[], [], []])
  })

  it('DEL whose recorded rules are not there lists the entry chain, then reads the table, in the recorded family only', async () => {
    let restores = 0
    const sys = createFakeSystem().on('netfilter.restore', () => {
      if (restores++ === 0) throw new SystemError({ cmd: 'iptables-restore', args: [], exitCode: 1, stderr: 'iptables-restore: line 2 failed' })
    })
    const [ipt] = createFirewall(sys, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).removable(['iptables'])
    await ipt!.remove('masquerade', owner, [masq])
    expect(sys.callsOf('netfilter.listChain').map((c) => c.args[0])).toEqual([4])
    expect(sys.callsOf('netfilter.save').map((c) => c.args[0])).toEqual([4])
  })

  it('a removal that fails because the tool is not usable here is nothing to remove; one that fails otherwise is an error', async () => {
    const absent = () => { throw new SystemError({ cmd: 'ip6tables-save', args: [], message: 'cannot run ip6tables-save' }) }
    const sys = createFakeSystem()
      .on('netfilter.save', (family: number) => (family === 6 ? absent() : ''))
      .on('netfilter.iptablesUsable', (family: number) => family === 4)
      .on('netfilter.nftList', () => { throw new SystemError({ cmd: 'nft', args: [], message: 'cannot run nft' }) })
      .on('netfilter.nftUsable', () => false)
    for (const b of createFirewall(sys, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).removable()) await b.remove('portmap', owner)
    expect(probes(sys)).toEqual(['netfilter.iptablesUsable(6)', 'netfilter.nftUsable()'])
    const broken = createFakeSystem().on('netfilter.nftList', () => { throw new SystemError({ cmd: 'nft', args: [], exitCode: 1, stderr: 'Error: Could not process rule: Device or resource busy' }) })
    const [, nft] = createFirewall(broken, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).removable()
    await expect(nft!.remove('portmap', owner)).rejects.toThrow(/busy|nft/i)
  })
})
