// The DNS role's pure planning: facts from prevResult, hosts files, dnsmasq config, upstreams, result and firewall intent.
import { describe, expect, it } from 'vitest'
import { renderIptablesDnsEnsure, renderIptablesDnsRemove, renderNftDnsEnsure, iptablesDnsChain } from '../../../src/firewall/dns-access.ts'
import { formatCidr, formatIp, parseCidr } from '../../../src/plugin/addr.ts'
import type { Result } from '../../../src/plugin/result.ts'
import { dnsAccess, dnsmasqConfig, hostsFile, networkFacts, networkPaths, upstreamServers, withDns } from '../../../src/dns/plan.ts'

const PREV: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'cni0', mac: '00:11:22:33:44:55' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/c1' }],
  ips: [
    { address: '10.47.0.5/16', gateway: '10.47.0.1', interface: 2 },
    { address: 'fd47::5/64', gateway: 'fd47::1', interface: 2 },
    { address: '192.168.1.1/24', interface: 0 },
  ],
  dns: { nameservers: ['8.8.8.8'], search: ['corp.example', 'dns.tscni'], options: ['ndots:2'] },
}

describe('networkFacts', () => {
  it('takes the container interface addresses, their gateways (IPv4 first) and subnets; skips host interfaces', () => {
    const facts = networkFacts(PREV, 'eth0')
    expect(facts.addresses.map(formatCidr)).toEqual(['10.47.0.5/16', 'fd47::5/64'])
    expect(facts.gateways.map(formatIp)).toEqual(['10.47.0.1', 'fd47::1'])
    expect(facts.subnets.map(formatCidr)).toEqual(['10.47.0.0/16', 'fd47::/64'])
  })

  it('has no gateway when the bridge is not the gateway', () => {
    expect(networkFacts({ cniVersion: '1.1.0', ips: [{ address: '10.1.0.2/24' }] }, 'eth0').gateways).toEqual([])
  })
})

describe('hostsFile', () => {
  it('one line per address, each name qualified first and bare', () => {
    const addrs = [parseCidr('10.47.0.5/16')!, parseCidr('fd47::5/64')!]
    expect(hostsFile(addrs, ['web', 'api'], 'dns.tscni')).toBe('10.47.0.5 web.dns.tscni web api.dns.tscni api\nfd47::5 web.dns.tscni web api.dns.tscni api\n')
  })
  it('is empty without names', () => expect(hostsFile([parseCidr('10.0.0.2/24')!], [], 'd')).toBe(''))
})

describe('upstreamServers', () => {
  it('reads nameserver lines, skips the server itself, junk and duplicates', () => {
    const text = '# c\nnameserver 1.1.1.1\nnameserver  10.47.0.1\nsearch x\nnameserver bogus\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver 1.1.1.1\n'
    expect(upstreamServers(text, networkFacts(PREV, 'eth0').gateways)).toEqual(['1.1.1.1', '2001:db8::53'])
  })
})

describe('dnsmasqConfig', () => {
  it('listens on the gateways only, keeps the domain local, drops privileges, follows the hosts dir', () => {
    const paths = networkPaths('/run/tscni/dns/', 'tscni')
    const conf = dnsmasqConfig({ network: 'tscni', domain: 'dns.tscni', gateways: networkFacts(PREV, 'eth0').gateways, upstream: ['1.1.1.1'], user: 'dnsmasq', paths })
    const lines = conf.trim().split('\n').filter((l) => !l.startsWith('#'))
    expect(lines).toEqual([
      'port=53', 'listen-address=10.47.0.1', 'listen-address=fd47::1', 'bind-dynamic', 'except-interface=lo', 'no-hosts', 'no-resolv',
      'server=1.1.1.1', 'domain-needed', 'bogus-priv', 'domain=dns.tscni', 'local=/dns.tscni/', 'local-ttl=0',
      'hostsdir=/run/tscni/dns/tscni/hosts', 'pid-file=/run/tscni/dns/tscni/dnsmasq.pid', 'user=dnsmasq',
    ])
  })
})

describe('withDns', () => {
  it('gateways become the name servers, the domain goes first in search, options stay', () => {
    const out = withDns(PREV, networkFacts(PREV, 'eth0').gateways, 'dns.tscni')
    expect(out.dns).toEqual({ nameservers: ['10.47.0.1', 'fd47::1'], search: ['dns.tscni', 'corp.example'], options: ['ndots:2'] })
    expect(out.ips).toBe(PREV.ips)
  })
})

describe('DNS firewall rendering', () => {
  const access = dnsAccess('tscni', networkFacts(PREV, 'eth0'))
  const chain = iptablesDnsChain('tscni')

  it('pairs each gateway with the subnets of its family', () => {
    expect(access.pairs.map((p) => `${formatIp(p.gateway)} ${formatCidr(p.subnet)}`)).toEqual(['10.47.0.1 10.47.0.0/16', 'fd47::1 fd47::/64'])
  })

  it('iptables: replaces the network chain and adds the INPUT jump once', () => {
    const script = renderIptablesDnsEnsure(access, 4, '')
    // Accepts from the network's subnet, then drops for every other source (another network's pod, a LAN host).
    expect(script).toBe(`*filter\n:${chain} - [0:0]\n-A ${chain} -s 10.47.0.0/16 -d 10.47.0.1/32 -p udp -m udp --dport 53 -j ACCEPT\n-A ${chain} -s 10.47.0.0/16 -d 10.47.0.1/32 -p tcp -m tcp --dport 53 -j ACCEPT\n-A ${chain} -d 10.47.0.1/32 -p udp -m udp --dport 53 -j DROP\n-A ${chain} -d 10.47.0.1/32 -p tcp -m tcp --dport 53 -j DROP\n-I INPUT 1 -m comment --comment "tscni-dns:tscni" -j ${chain}\nCOMMIT\n`)
    const saved = `:${chain} - [0:0]\n-A INPUT -m comment --comment "tscni-dns:tscni" -j ${chain}\n`
    expect(renderIptablesDnsEnsure(access, 4, saved)).not.toContain('-I INPUT')
    expect(renderIptablesDnsEnsure(access, 6, '')).toContain('-d fd47::1/128')
    // Already in place: nothing to apply.
    expect(renderIptablesDnsEnsure(access, 4, `${saved}${script.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).join('\n')}\n`)).toBe('')
    expect(chain.length).toBeLessThanOrEqual(28)
  })

  it('iptables: removal deletes every jump and the chain, nothing when absent', () => {
    const saved = `:${chain} - [0:0]\n-A INPUT -m comment --comment "tscni-dns:tscni" -j ${chain}\n-A INPUT -j OTHER\n`
    expect(renderIptablesDnsRemove('tscni', saved)).toBe(`*filter\n-D INPUT -m comment --comment "tscni-dns:tscni" -j ${chain}\n-F ${chain}\n-X ${chain}\nCOMMIT\n`)
    expect(renderIptablesDnsRemove('tscni', '-A INPUT -j OTHER\n')).toBe('')
  })

  it('nftables: one base chain per network on the input hook, replaced whole', () => {
    const script = renderNftDnsEnsure(access)
    expect(script).toContain('add chain inet tscni-dns dns-tscni { type filter hook input priority filter - 1 ; policy accept ; }')
    expect(script).toContain('flush chain inet tscni-dns dns-tscni')
    expect(script).toContain('add rule inet tscni-dns dns-tscni ip6 saddr fd47::/64 ip6 daddr fd47::1 meta l4proto { tcp, udp } th dport 53 accept comment "tscni-dns:tscni"')
    expect(script).toContain('add rule inet tscni-dns dns-tscni ip daddr 10.47.0.1 meta l4proto { tcp, udp } th dport 53 drop comment "tscni-dns-drop:tscni"')
    expect(script).toContain('add rule inet tscni-dns dns-tscni ip6 daddr fd47::1 meta l4proto { tcp, udp } th dport 53 drop comment "tscni-dns-drop:tscni"')
    // The drops come after every accept.
    expect(script.lastIndexOf(' accept ')).toBeLessThan(script.indexOf(' drop '))
  })
})
