// DNS access drops port 53 to a network's gateways from every other source, and CHECK (doctor, reconcile) misses a
// chain that only accepts, in both backends.
import { describe, expect, it } from 'vitest'
import { createDnsFirewall, iptablesDnsChain, iptablesDnsJump, iptablesDnsRules } from '../../../src/firewall/dns-access.ts'
import type { DnsAccess } from '../../../src/firewall/model.ts'
import { parseCidr, parseIp } from '../../../src/plugin/addr.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const access: DnsAccess = {
  network: 'net',
  pairs: [
    { gateway: parseIp('10.47.0.1')!, subnet: parseCidr('10.47.0.0/24')! },
    { gateway: parseIp('10.47.0.1')!, subnet: parseCidr('10.47.1.0/24')! },
  ],
}
const lock = { locker: createFakeSystem().locker, lockPath: '/tmp/tscni-unit-fw.lock', lockTimeoutMs: 1000 }

describe('DNS drop for other sources', () => {
  it('iptables: one drop per gateway and protocol, after every accept', () => {
    const chain = iptablesDnsChain('net')
    expect(iptablesDnsRules(access, 4)).toEqual([
      `-A ${chain} -s 10.47.0.0/24 -d 10.47.0.1/32 -p udp -m udp --dport 53 -j ACCEPT`,
      `-A ${chain} -s 10.47.0.0/24 -d 10.47.0.1/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
      `-A ${chain} -s 10.47.1.0/24 -d 10.47.0.1/32 -p udp -m udp --dport 53 -j ACCEPT`,
      `-A ${chain} -s 10.47.1.0/24 -d 10.47.0.1/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
      `-A ${chain} -d 10.47.0.1/32 -p udp -m udp --dport 53 -j DROP`,
      `-A ${chain} -d 10.47.0.1/32 -p tcp -m tcp --dport 53 -j DROP`,
    ])
  })

  it('iptables: a chain with the accepts but without the drops is reported missing', async () => {
    const sys = createFakeSystem()
    const acceptsOnly = iptablesDnsRules(access, 4).filter((l) => l.endsWith('ACCEPT'))
    sys.on('netfilter.save', () => `*filter\n:${iptablesDnsChain('net')} - [0:0]\n${iptablesDnsJump('net')}\n${acceptsOnly.join('\n')}\nCOMMIT\n`)
    const missing = await createDnsFirewall(sys, lock).missing('iptables', access)
    expect(missing).toEqual(iptablesDnsRules(access, 4).filter((l) => l.endsWith('DROP')).map((l) => `iptables: ${l}`))
  })

  it('nftables: the drops counted apart from the accepts', async () => {
    const sys = createFakeSystem()
    const rule = (handle: number, comment: string) => ({ rule: { family: 'inet', table: 'tscni-dns', chain: 'dns-net', handle, comment, expr: [] } })
    sys.on('netfilter.nftList', () => JSON.stringify({ nftables: [rule(1, 'tscni-dns:net'), rule(2, 'tscni-dns:net')] }))
    expect(await createDnsFirewall(sys, lock).missing('nftables', access)).toEqual(['1 drop rule(s) for other sources in nft chain inet tscni-dns dns-net'])
    sys.on('netfilter.nftList', () => JSON.stringify({ nftables: [rule(1, 'tscni-dns:net'), rule(2, 'tscni-dns:net'), rule(3, 'tscni-dns-drop:net')] }))
    expect(await createDnsFirewall(sys, lock).missing('nftables', access)).toEqual([])
  })
})
