import { describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { configBoundsProblems, configHostProblems } from '../../../src/node/config-trust.ts'

const dual = (ipv6Network: string, len = 64) => parseClusterConfig({ Network: '10.77.0.0/16', EnableIPv6: true, IPv6Network: ipv6Network, IPv6SubnetLen: len, Backend: { Type: 'vxlan' } })

describe('cluster config bounds, IPv6 pool included', () => {
  it('accepts a usual dual-stack config', () => {
    expect(configBoundsProblems(dual('fd77::/48'))).toEqual([])
  })

  it('refuses an IPv6 network that is too wide or touches loopback, link-local or multicast', () => {
    expect(configBoundsProblems(dual('::/0', 24)).join('\n')).toMatch(/wider than \/16/)
    expect(configBoundsProblems(dual('fe80::/40')).join('\n')).toMatch(/reserved range fe80::\/10/)
    expect(configBoundsProblems(dual('ff00::/40')).join('\n')).toMatch(/reserved range ff00::\/8/)
    expect(configBoundsProblems(parseClusterConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: '::/16', IPv6SubnetLen: 48, Backend: { Type: 'vxlan' } })).join('\n')).toMatch(/reserved range ::\/8/)
  })

  it('refuses an IPv6 network holding this host\'s address or a route that is not the agent\'s', () => {
    const host = { addresses: ['fd77:0:0:9::5/64'], foreignRoutes: ['fd77:0:0:8::/64'], etcdHosts: [] }
    const problems = configHostProblems(dual('fd77::/48'), host).join('\n')
    expect(problems).toMatch(/contains this host's address fd77:0:0:9::5\/64/)
    expect(problems).toMatch(/route to fd77:0:0:8::\/64/)
  })
})
