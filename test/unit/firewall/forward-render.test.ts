// The firewall role's pure renderers: the reference's iptables rules and their removal, and tscni's nft table.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { missingForward, renderAcceptLines, renderAcceptRemove, renderIsolationLines, renderIsolationRemove } from '../../../src/firewall/iptables-forward.ts'
import { parseSave } from '../../../src/firewall/iptables-save.ts'
import { EMPTY_LISTING } from '../../../src/firewall/nft-json.ts'
import { missingNftForward, renderNftForwardEnsure } from '../../../src/firewall/nft-forward.ts'
import type { ForwardAcceptIntent, IsolationIntent } from '../../../src/firewall/model.ts'

const owner = { network: 'net', containerId: 'c1', ifname: 'eth0' }
const accept: ForwardAcceptIntent = { kind: 'forward-accept', owner, addresses: [parseCidr('10.1.0.2/24')!, parseCidr('fd01::2/64')!], adminChain: 'CNI-ADMIN' }
const isolation: IsolationIntent = { kind: 'isolation', owner, bridge: 'br0', policy: 'same-bridge', families: [4] }
const EMPTY = parseSave('', 'filter')

const SAVED = `*filter
:FORWARD ACCEPT [0:0]
:CNI-FORWARD - [0:0]
:CNI-ADMIN - [0:0]
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN
-A CNI-FORWARD -d 10.1.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A CNI-FORWARD -s 10.1.0.2/32 -j ACCEPT
COMMIT
`

describe('iptables forward rules', () => {
  it('renders the chains, the first-position jumps and two rules per address of the family', () => {
    expect(renderAcceptLines(accept, 4, EMPTY)).toEqual([
      '-N CNI-FORWARD', '-N CNI-ADMIN',
      '-I FORWARD 1 -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
      '-I CNI-FORWARD 1 -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
      '-A CNI-FORWARD -d 10.1.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s 10.1.0.2/32 -j ACCEPT',
    ])
    expect(renderAcceptLines(accept, 6, EMPTY)).toContain('-A CNI-FORWARD -s fd01::2/128 -j ACCEPT')
  })

  it('adds nothing that is there (iptables-save form) and CHECK finds nothing missing', () => {
    const state = parseSave(SAVED, 'filter')
    expect(renderAcceptLines({ ...accept, addresses: [accept.addresses[0]!] }, 4, state)).toEqual([])
    expect(missingForward({ ...accept, addresses: [accept.addresses[0]!] }, 4, state)).toEqual([])
    expect(missingForward(accept, 4, EMPTY)).toHaveLength(4)
  })

  it('removes the last address with CNI-FORWARD, its jump and the empty admin chain; keeps them for other addresses', () => {
    const state = parseSave(SAVED, 'filter')
    const script = renderAcceptRemove([accept], 4, state)
    expect(script).toContain('-D CNI-FORWARD -s 10.1.0.2/32 -j ACCEPT')
    expect(script).toContain('-D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD')
    expect(script).toContain('-X CNI-FORWARD')
    expect(script).toContain('-X CNI-ADMIN')
    const other = renderAcceptRemove([{ ...accept, addresses: [parseCidr('10.1.0.9/24')!] }], 4, state)
    expect(other).toBe('')
  })

  it('isolation: the reference chains, bridge rules before RETURN; removal drops the chains with the last bridge', () => {
    const lines = renderIsolationLines({ ...isolation, policy: 'isolated' }, 4, EMPTY)
    expect(lines).toContain('-I CNI-ISOLATION-STAGE-1 1 -i br0 ! -o br0 -j CNI-ISOLATION-STAGE-2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)"')
    expect(lines).toContain('-I CNI-ISOLATION-STAGE-1 1 -i br0 -o br0 -j DROP -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)"')
    expect(renderIsolationLines(isolation, 6, EMPTY)).toEqual([])
    const saved = parseSave(`*filter
:CNI-ISOLATION-STAGE-1 - [0:0]
:CNI-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -m comment --comment "x" -j CNI-ISOLATION-STAGE-1
-A CNI-ISOLATION-STAGE-1 -i br0 ! -o br0 -m comment --comment "x" -j CNI-ISOLATION-STAGE-2
-A CNI-ISOLATION-STAGE-1 -i br1 ! -o br1 -m comment --comment "x" -j CNI-ISOLATION-STAGE-2
-A CNI-ISOLATION-STAGE-1 -m comment --comment "x" -j RETURN
-A CNI-ISOLATION-STAGE-2 -o br0 -m comment --comment "x" -j DROP
-A CNI-ISOLATION-STAGE-2 -o br1 -m comment --comment "x" -j DROP
COMMIT
`, 'filter')
    const one = renderIsolationRemove(['br0'], saved)
    expect(one).toContain('-D CNI-ISOLATION-STAGE-2 -o br0')
    expect(one).not.toContain('-X')
    const both = renderIsolationRemove(['br0', 'br1'], saved)
    expect(both).toContain('-D FORWARD -m comment --comment "x" -j CNI-ISOLATION-STAGE-1')
    expect(both).toContain('-X CNI-ISOLATION-STAGE-1')
    expect(both).toContain('-X CNI-ISOLATION-STAGE-2')
  })
})

describe('nftables forward table', () => {
  it('creates the table, its chains and jumps, and the owner-commented rules', () => {
    const script = renderNftForwardEnsure([accept, isolation], EMPTY_LISTING)
    expect(script).toContain('add chain inet tscni_firewall forward { type filter hook forward priority filter ; policy accept ; }')
    expect(script).toContain('add rule inet tscni_firewall containers ip daddr 10.1.0.2 ct state established,related accept comment')
    expect(script).toContain('add rule inet tscni_firewall containers ip6 saddr fd01::2 accept comment')
    expect(script).toContain('add rule inet tscni_firewall isolation iifname "br0" oifname != "br0" jump isolation-stage-2')
    expect(script).not.toContain('oifname "br0" drop comment "bridge br0: ingressPolicy isolated')
    expect(missingNftForward(accept, EMPTY_LISTING).length).toBeGreaterThan(1)
  })
})
