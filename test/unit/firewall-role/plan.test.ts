// The firewall role's pure parts: the intents from prevResult and the config, and firewalld detection.
import { describe, expect, it } from 'vitest'
import { parseFirewallConfig } from '../../../src/firewall-role/config.ts'
import { firewalldRunning } from '../../../src/firewall-role/firewalld.ts'
import { firewallIntents } from '../../../src/firewall-role/plan.ts'

const owner = { network: 'n', containerId: 'c', ifname: 'eth0' }
const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'br0' }, { name: 'eth0', sandbox: '/x' }], ips: [{ address: '10.1.0.2/24', interface: 1 }, { address: 'fd01::2/64', interface: 1 }] }

describe('firewall intents', () => {
  it('open: accepts for every address; same-bridge adds the isolation of the first interface in both families', () => {
    expect(firewallIntents(parseFirewallConfig({}), owner, prev).map((i) => i.kind)).toEqual(['forward-accept'])
    const both = firewallIntents(parseFirewallConfig({ ingressPolicy: 'same-bridge', iptablesAdminChainName: 'NOMAD-ADMIN' }), owner, prev)
    expect(both[0]).toMatchObject({ kind: 'forward-accept', adminChain: 'NOMAD-ADMIN' })
    expect(both[1]).toMatchObject({ kind: 'isolation', bridge: 'br0', policy: 'same-bridge', families: [4, 6] })
  })

  it('refuses a bridge name that could break out of a rule script, naming the field', () => {
    const bad = { ...prev, interfaces: [{ name: 'br0" accept' }] }
    expect(() => firewallIntents(parseFirewallConfig({ ingressPolicy: 'isolated' }), owner, bad)).toThrow(/prevResult.interfaces\[0\].name/)
  })

  it('defaults: CNI-ADMIN, trusted zone, open; "" is the automatic backend', () => {
    expect(parseFirewallConfig({ backend: '' })).toMatchObject({ adminChain: 'CNI-ADMIN', firewalldZone: 'trusted', ingressPolicy: 'open' })
    expect(parseFirewallConfig({ backend: '' }).backend).toBeUndefined()
  })
})

describe('firewalld detection', () => {
  it('is true only for a PID file naming a live firewalld process', () => {
    const files = (m: Record<string, string>) => (p: string) => m[p]
    expect(firewalldRunning(files({ '/run/firewalld.pid': '42\n', '/proc/42/comm': 'firewalld\n' }))).toBe(true)
    expect(firewalldRunning(files({ '/var/run/firewalld.pid': '42\n', '/proc/42/comm': 'bash\n' }))).toBe(false)
    expect(firewalldRunning(files({ '/run/firewalld.pid': '42\n' }))).toBe(false)
    expect(firewalldRunning(files({}))).toBe(false)
  })
})
