// ADD and DEL scripts that read at most one chain: they leave the table exactly as the full path's scripts would.
import { describe, expect, it } from 'vitest'
import { EMPTY_NAT, parseChainListing, parseSave, type NatState } from '../../../src/firewall/iptables-save.ts'
import { renderMasqEnsure, renderPortmapEnsure, renderRemove } from '../../../src/firewall/iptables-render.ts'
import { dnatChain, masqChain } from '../../../src/firewall/iptables-rules.ts'
import { entryChainOf, renderMasqFast, renderPortmapFast, renderTargetedRemove } from '../../../src/firewall/iptables-targeted.ts'
import { firewallFixture, sampleMasq, sampleOwner, samplePortmap } from '../../support/firewall-fixtures.ts'

const ours = parseSave(firewallFixture('save-v4-tscni-portmap-masq.txt'))
const reference = parseSave(firewallFixture('reference-save-v4.txt'))
const lines = (script: string | undefined): string[] => (script ?? '').split('\n').filter((l) => l !== '' && l !== '*nat' && l !== 'COMMIT')

// The recorded table without one owner's chains and the rules in or to them: a node set up by others.
function without(state: NatState, chains: readonly string[]): NatState {
  return {
    chains: new Set([...state.chains].filter((c) => !chains.includes(c))),
    rules: state.rules.filter((r) => !chains.includes(r.chain) && !chains.includes(r.target ?? '')),
  }
}

// `iptables -S <chain>` prints the chain's policy or declaration, then its rules in save format.
function listed(state: NatState, chain: string): NatState {
  const rules = state.rules.filter((r) => r.chain === chain).map((r) => `-A ${r.chain} ${r.text}`)
  return parseChainListing([`-P ${chain} ACCEPT`, ...rules, ''].join('\n'))
}

describe('parseChainListing', () => {
  it('reads the declaration and rules of `iptables -S <chain>` output', () => {
    const l = parseChainListing('-N CNI-HOSTPORT-DNAT\n-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"test\\" id: \\"c1\\"" -m multiport --dports 8080 -j CNI-DN-1\n')
    expect([...l.chains]).toEqual(['CNI-HOSTPORT-DNAT'])
    expect(l.rules).toHaveLength(1)
    expect(l.rules[0]!.target).toBe('CNI-DN-1')
    expect(l.rules[0]!.comment).toBe('dnat name: "test" id: "c1"')
  })
})

describe('ADD without a save', () => {
  it('ipMasq: what the full path renders from a table without the owner, led by the "-N" that fails if it exists', () => {
    const fast = renderMasqFast(sampleMasq, 4)
    expect(fast).toBe(renderMasqEnsure(sampleMasq, 4, without(ours, [masqChain(sampleOwner)])))
    expect(fast).toBe(renderMasqEnsure(sampleMasq, 4, EMPTY_NAT))
    expect(lines(fast)[0]).toBe(`-N ${masqChain(sampleOwner)}`)
  })

  it('portmap: asserts every shared rule, then adds exactly what the full path adds on a set-up node', () => {
    for (const family of [4, 6] as const) {
      const fast = lines(renderPortmapFast(samplePortmap, family))
      const full = lines(renderPortmapEnsure(samplePortmap, family, without(ours, [dnatChain(sampleOwner)])))
      expect(fast.filter((l) => !l.startsWith('-C '))).toEqual(full)
      expect(fast.filter((l) => l.startsWith('-C ')).map((l) => l.split(' ')[1])).toEqual(['CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ', 'POSTROUTING', 'PREROUTING', 'OUTPUT'])
    }
    // Each asserted rule is one the full path would add to an empty table: a missing one makes the script fail.
    const setup = lines(renderPortmapEnsure(samplePortmap, 4, EMPTY_NAT))
    for (const check of lines(renderPortmapFast(samplePortmap, 4)).filter((l) => l.startsWith('-C '))) {
      expect(setup.some((l) => l.replace(/^-[AI] (\S+)( 1)?/, '-C $1') === check)).toBe(true)
    }
  })

  it('portmap with an external mark chain asserts only the entry jumps; no address of the family, no script', () => {
    const external = { ...samplePortmap, externalSetMarkChain: 'KUBE-MARK-MASQ' }
    expect(lines(renderPortmapFast(external, 4)).filter((l) => l.startsWith('-C ')).map((l) => l.split(' ')[1])).toEqual(['PREROUTING', 'OUTPUT'])
    expect(renderPortmapFast({ ...samplePortmap, containerV6: undefined }, 6)).toBe('')
  })
})

describe('DEL from the entry chain', () => {
  it('deletes the same jumps as the full save, then declares and deletes the owned chains', () => {
    for (const kind of ['masquerade', 'portmap'] as const) {
      const script = lines(renderTargetedRemove(kind, sampleOwner, listed(ours, entryChainOf(kind)).rules))
      const full = lines(renderRemove(kind, sampleOwner, ours))
      expect(script.filter((l) => l.startsWith('-D '))).toEqual(full.filter((l) => l.startsWith('-D ')))
      expect(script.filter((l) => l.startsWith('-D ')).length).toBeGreaterThan(0)
      // Every chain the full path deletes is deleted here too; a legacy chain that is not there is declared first.
      for (const x of full.filter((l) => l.startsWith('-X '))) expect(script).toContain(x)
      for (const x of script.filter((l) => l.startsWith('-X '))) expect(script).toContain(`:${x.slice(3)} - [0:0]`)
    }
  })

  it('removes a reference attachment and leaves its neighbour', () => {
    const ref1 = { network: 'refnet', containerId: 'ref1', ifname: 'eth0' }
    const script = lines(renderTargetedRemove('portmap', ref1, listed(reference, 'CNI-HOSTPORT-DNAT').rules))
    expect(script.filter((l) => l.startsWith('-D '))).toEqual(['-D CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"refnet\\" id: \\"ref1\\"" -m multiport --dports 8080 -j CNI-DN-fb539a2ef5304ef7f1a65'])
    expect(script.join('\n')).not.toContain('ref2')
  })

  it('finds nothing when no jump leads to the owner: the full path decides', () => {
    expect(renderTargetedRemove('masquerade', { ...sampleOwner, containerId: 'other' }, listed(ours, 'POSTROUTING').rules)).toBeUndefined()
    expect(renderTargetedRemove('portmap', sampleOwner, [])).toBeUndefined()
    // A jump to the owner's chain from another chain than the entry one is not taken for the entry's.
    expect(renderTargetedRemove('portmap', sampleOwner, listed(ours, 'POSTROUTING').rules)).toBeUndefined()
  })
})
