// The node's masquerade and forward rules for both backends, and their removal.
import { describe, expect, it } from 'vitest'
import { iptablesFilterScript, iptablesNatScript, iptablesRemoveScript, nftRemoveScript, nftScript } from '../../../src/node/firewall-rules.ts'

const scope = { cluster: '10.77.0.0/16', subnet: '10.77.1.0/24' }
const natWithJump = '*nat\n:POSTROUTING ACCEPT [0:0]\n:TSCNI-POSTRTG - [0:0]\n-A POSTROUTING -m comment --comment "tscni node masquerade" -j TSCNI-POSTRTG\n-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE\nCOMMIT\n'

describe('iptables', () => {
  it('the nat chain keeps pod-to-pod sources and masquerades the rest; the jump is added once', () => {
    const first = iptablesNatScript(scope, '*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n')
    expect(first).toBe([
      '*nat',
      ':TSCNI-POSTRTG - [0:0]',
      '-A TSCNI-POSTRTG -s 10.77.1.0/24 -d 10.77.0.0/16 -m comment --comment "pod to pod keeps its source" -j RETURN',
      '-A TSCNI-POSTRTG -s 10.77.1.0/24 -d 224.0.0.0/4 -m comment --comment "multicast is never masqueraded" -j RETURN',
      '-A TSCNI-POSTRTG -s 10.77.1.0/24 -m comment --comment "pod to outside" -j MASQUERADE --random-fully',
      '-A POSTROUTING -m comment --comment "tscni node masquerade" -j TSCNI-POSTRTG',
      'COMMIT',
      '',
    ].join('\n'))
    expect(iptablesNatScript(scope, natWithJump)).not.toContain('-A POSTROUTING')
  })

  it('forwarding for the cluster CIDR is accepted first in FORWARD', () => {
    const s = iptablesFilterScript(scope, '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n')
    expect(s).toContain('-A TSCNI-FWD -s 10.77.0.0/16 -m comment --comment "from pods" -j ACCEPT')
    expect(s).toContain('-A TSCNI-FWD -d 10.77.0.0/16 -m comment --comment "to pods" -j ACCEPT')
    expect(s).toContain('-I FORWARD 1 -m comment --comment "tscni node forward" -j TSCNI-FWD')
    expect(iptablesFilterScript(scope, '*filter\n-A FORWARD -m comment --comment "tscni node forward" -j TSCNI-FWD\n')).not.toContain('-I FORWARD')
  })

  it('removal deletes every jump as saved, then the chain; nothing when nothing is ours', () => {
    expect(iptablesRemoveScript('nat', natWithJump)).toBe('*nat\n-D POSTROUTING -m comment --comment "tscni node masquerade" -j TSCNI-POSTRTG\n-F TSCNI-POSTRTG\n-X TSCNI-POSTRTG\nCOMMIT\n')
    expect(iptablesRemoveScript('nat', '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE\nCOMMIT\n')).toBeUndefined()
    expect(iptablesRemoveScript('filter', '*filter\n:TSCNI-FWD - [0:0]\nCOMMIT\n')).toBe('*filter\n-F TSCNI-FWD\n-X TSCNI-FWD\nCOMMIT\n')
  })
})

describe('nftables', () => {
  it('replaces its own table atomically', () => {
    const s = nftScript(scope)
    expect(s.split('\n').slice(0, 3)).toEqual(['add table ip tscni-node', 'delete table ip tscni-node', 'table ip tscni-node {'])
    expect(s).toContain('ip saddr 10.77.1.0/24 ip daddr 10.77.0.0/16 return')
    expect(s).toContain('ip saddr 10.77.1.0/24 masquerade fully-random')
    expect(s).toContain('ip daddr 10.77.0.0/16 accept')
    expect(nftRemoveScript()).toBe('add table ip tscni-node\ndelete table ip tscni-node\n')
  })
})
