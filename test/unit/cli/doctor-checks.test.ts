// doctor's host checks from facts: every status of privileges, tools, firewall choice, forwarding, data dir, configs.
import { describe, expect, it } from 'vitest'
import { doctorChecks, exitCodeOf, type Check, type DoctorFacts } from '../../../src/cli/doctor-checks.ts'
import { healthy, without } from './doctor-helpers.ts'

function run(facts: DoctorFacts): { checks: Check[]; by: (name: string) => Check; exit: number } {
  const checks = doctorChecks(facts)
  return {
    checks,
    by: (name) => {
      const found = checks.filter((c) => c.check === name)
      if (found.length !== 1) throw new Error(`expected one "${name}" check, got ${found.length}: ${JSON.stringify(checks, null, 1)}`)
      return found[0]!
    },
    exit: exitCodeOf(checks),
  }
}

describe('a healthy node', () => {
  it('has no warning or failure and exits 0', () => {
    const { checks, exit } = run(healthy())
    expect(checks.filter((c) => c.status === 'warn' || c.status === 'fail')).toEqual([])
    expect(exit).toBe(0)
    expect(checks.map((c) => c.check)).toEqual([
      'privileges', 'tool ip', 'tool nsenter', 'tool flock', 'tool sh', 'tool bridge', 'tool iptables', 'tool ip6tables', 'tool nft', 'tool conntrack', 'tool dnsmasq',
      'firewall iptables', 'firewall nftables', 'firewall choice', 'forwarding ipv4', 'forwarding ipv6', 'data dir', 'configs',
      'reservations', 'firewall rules',
    ])
  })

  it('names tool paths and versions, and the iptables variant', () => {
    const { by } = run(healthy())
    expect(by('tool ip').detail).toBe('ip utility, iproute2-6.1.0, libbpf 1.1.2 (/usr/sbin/ip)')
    expect(by('tool iptables').detail).toContain('the nf_tables variant')
    const legacy = healthy({ tools: { ...healthy().tools, iptables: { path: '/sbin/iptables', version: 'iptables v1.8.9 (legacy)' } } })
    expect(run(legacy).by('tool iptables').detail).toContain('the legacy variant')
    expect(run(legacy).by('firewall iptables').detail).toContain('(legacy)')
  })
})

describe('privileges', () => {
  it('warns when not root or without CAP_NET_ADMIN, without failing', () => {
    for (const facts of [healthy({ uid: 1000, capNetAdmin: false }), healthy({ uid: 0, capNetAdmin: false })]) {
      const { by, exit } = run(facts)
      expect(by('privileges').status).toBe('warn')
      expect(by('privileges').remedy).toContain('root')
      expect(exit).toBe(0)
    }
    expect(run(healthy({ uid: 1000, capNetAdmin: false })).by('privileges').detail).toMatch(/^uid 1000, no CAP_NET_ADMIN/)
  })
})

describe('tools', () => {
  it.each(['ip', 'nsenter', 'flock', 'sh'] as const)('missing %s fails and says what stops working', (tool) => {
    const { by, exit } = run(healthy({ tools: without(tool) }))
    expect(by(`tool ${tool}`).status).toBe('fail')
    expect(by(`tool ${tool}`).detail).toMatch(/^not found: (bridge|host-local)/)
    expect(by(`tool ${tool}`).remedy).toContain('TSCNI_SYSTEM_PATH')
    expect(exit).toBe(1)
  })

  it('missing bridge (the iproute2 tool) only warns: VLAN configs need it', () => {
    const { by, exit } = run(healthy({ tools: without('bridge') }))
    expect(by('tool bridge')).toMatchObject({ status: 'warn', detail: 'not found: bridge configs with vlan or vlanTrunk fail (port VLANs are set with bridge -batch, from iproute2)' })
    expect(by('tool bridge').remedy).toContain('TSCNI_SYSTEM_PATH')
    expect(exit).toBe(0)
  })

  it('missing nft only warns while iptables works', () => {
    const { by, exit } = run(healthy({ tools: without('nft'), probe: { iptables4: true, iptables6: true, nft: false } }))
    expect(by('tool nft')).toMatchObject({ status: 'warn', detail: expect.stringContaining('nftables backend fail') })
    expect(by('firewall nftables')).toMatchObject({ status: 'info', detail: 'not usable: nft not found' })
    expect(by('firewall choice').status).toBe('ok')
    expect(exit).toBe(0)
  })

  it('missing iptables only warns while nft works, and ip6tables then says nothing alarming', () => {
    const { by, exit } = run(healthy({ tools: without('iptables', 'ip6tables'), probe: { iptables4: false, iptables6: false, nft: true } }))
    expect(by('tool iptables')).toMatchObject({ status: 'warn', detail: expect.stringContaining('automatic choice uses nftables') })
    expect(by('tool ip6tables').status).toBe('info')
    expect(by('firewall choice').detail).toContain('picks nftables: iptables is not usable')
    expect(exit).toBe(0)
  })

  it('missing both iptables and nft fails twice and fails the choice', () => {
    const { by, exit } = run(healthy({ tools: without('iptables', 'ip6tables', 'nft'), probe: { iptables4: false, iptables6: false, nft: false } }))
    expect(by('tool iptables').status).toBe('fail')
    expect(by('tool nft').status).toBe('fail')
    expect(by('firewall choice')).toMatchObject({ status: 'fail', detail: expect.stringContaining('no usable firewall backend') })
    expect(exit).toBe(1)
  })

  it('missing ip6tables with iptables present warns that IPv6 rules are skipped', () => {
    const { by } = run(healthy({ tools: without('ip6tables'), probe: { iptables4: true, iptables6: false, nft: true } }))
    expect(by('tool ip6tables')).toMatchObject({ status: 'warn', detail: expect.stringContaining('skips IPv6') })
    expect(by('firewall iptables').detail).toContain('IPv6 rules are skipped')
  })

  it('iptables without its -restore helper warns', () => {
    const { by } = run(healthy({ tools: without('iptables-restore') }))
    expect(by('tool iptables')).toMatchObject({ status: 'warn', detail: expect.stringContaining('iptables-restore not found') })
  })

  it('missing dnsmasq warns that dnsname cannot answer names', () => {
    const { by, exit } = run(healthy({ tools: without('dnsmasq') }))
    expect(by('tool dnsmasq')).toMatchObject({ status: 'warn', detail: expect.stringContaining('dnsname cannot answer container names'), remedy: expect.stringContaining('dnsmasq-base') })
    expect(exit).toBe(0)
  })

  it('missing conntrack warns about stale UDP entries', () => {
    const { by, exit } = run(healthy({ tools: without('conntrack') }))
    expect(by('tool conntrack')).toMatchObject({ status: 'warn', detail: expect.stringContaining('stale UDP conntrack entries are not flushed') })
    expect(exit).toBe(0)
  })

  it('a tool that printed no version is still present', () => {
    const { by } = run(healthy({ tools: { ...healthy().tools, flock: { path: '/bin/flock' } } }))
    expect(by('tool flock')).toMatchObject({ status: 'ok', detail: 'version unknown (/bin/flock)' })
  })
})

describe('firewall', () => {
  it('prefers iptables when usable and says why', () => {
    expect(run(healthy()).by('firewall choice').detail).toMatch(/picks iptables: iptables is usable/)
  })

  it('explains an iptables binary whose nat table cannot be read', () => {
    const { by } = run(healthy({ probe: { iptables4: false, iptables6: false, nft: true } }))
    expect(by('firewall iptables')).toMatchObject({ status: 'info', detail: expect.stringContaining('nat table cannot be read') })
    expect(by('firewall choice').detail).toContain('picks nftables')
  })

  it('fails when neither backend is usable though both tools exist', () => {
    const { by, exit } = run(healthy({ probe: { iptables4: false, iptables6: false, nft: false } }))
    expect(by('firewall nftables').detail).toContain('cannot list the ruleset')
    expect(by('firewall choice').status).toBe('fail')
    expect(exit).toBe(1)
  })
})

describe('forwarding', () => {
  it('reports values as information, and that the bridge enables them itself', () => {
    const { by } = run(healthy({ forwarding: { ipv4: '0', ipv6: undefined } }))
    expect(by('forwarding ipv4')).toMatchObject({ status: 'info', detail: expect.stringMatching(/= 0 \(the bridge sets it to 1 itself.*isGateway/) })
    expect(by('forwarding ipv6')).toMatchObject({ status: 'info', detail: expect.stringContaining('not present') })
    expect(run(healthy()).by('forwarding ipv4').detail).toBe('net.ipv4.ip_forward = 1')
  })
})

describe('data dir', () => {
  it('ok when it can be created', () => {
    const { by } = run(healthy({ dataDir: { exists: false, isDirectory: false, writable: true, note: '/var/lib' } }))
    expect(by('data dir')).toMatchObject({ status: 'ok', detail: '/data does not exist yet; host-local creates it (/var/lib is writable)' })
  })

  it.each([
    ['not writable', { exists: true, isDirectory: true, writable: false, note: 'EROFS' }, /is not writable \(EROFS\)/],
    ['not creatable', { exists: false, isDirectory: false, writable: false, note: '/ro: EACCES' }, /cannot be created \(\/ro: EACCES\)/],
    ['not a directory', { exists: true, isDirectory: false, writable: false }, /not a directory/],
  ])('fails when %s', (_name, dataDir, detail) => {
    const { by, exit } = run(healthy({ dataDir }))
    expect(by('data dir')).toMatchObject({ status: 'fail', detail: expect.stringMatching(detail) })
    expect(exit).toBe(1)
  })
})

describe('configs', () => {
  it('warns when there is none or the dir cannot be read', () => {
    expect(run(healthy({ confFiles: [] })).by('configs')).toMatchObject({ status: 'warn', detail: expect.stringContaining('cni plugin not initialized') })
    expect(run(healthy({ confFiles: undefined })).by('configs').detail).toContain('/conf cannot be read')
    expect(run(healthy({ confFiles: undefined })).exit).toBe(0)
  })

  it('warns once per unreadable config', () => {
    const { checks } = run(healthy({ node: { ...healthy().node, notes: ['/conf/a.conflist: not valid JSON (x)', '/conf/b.conf: network "b": bad range'] } }))
    expect(checks.filter((c) => c.check === 'config').map((c) => c.status)).toEqual(['warn', 'warn'])
  })
})
