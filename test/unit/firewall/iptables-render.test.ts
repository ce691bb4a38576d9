// iptables-save parsing and the restore scripts computed from recorded states (ours and the reference's).
import { describe, expect, it } from 'vitest'
import type { PortmapIntent } from '../../../src/firewall/model.ts'
import { EMPTY_NAT, parseSave, rulesOf, savedRule } from '../../../src/firewall/iptables-save.ts'
import { canonicalKey, tokenize } from '../../../src/firewall/iptables-text.ts'
import { missingRules, renderGc, renderMasqEnsure, renderPortmapEnsure, renderRemove } from '../../../src/firewall/iptables-render.ts'
import { firewallFixture, sampleMasq, sampleOwner, samplePortmap } from '../../support/firewall-fixtures.ts'

const fixture = firewallFixture
const owner = sampleOwner
const portmap = samplePortmap
const masq = sampleMasq
const ours = parseSave(fixture('save-v4-tscni-portmap-masq.txt'))
const reference = parseSave(fixture('reference-save-v4.txt'))

describe('parseSave', () => {
  it('reads chains, rules, targets and unquoted comments', () => {
    expect(ours.chains.has('CNI-HOSTPORT-DNAT')).toBe(true)
    expect(ours.chains.has('PREROUTING')).toBe(true)
    const jumps = rulesOf(ours, 'CNI-HOSTPORT-DNAT')
    expect(jumps).toHaveLength(2)
    expect(jumps[0]!.target).toBe('CNI-DN-917f9005c929d67b6ac60')
    expect(jumps[0]!.comment).toBe('dnat name: "test" id: "c1"')
  })
  it('ignores other tables', () => {
    expect(parseSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n').rules).toEqual([])
  })
  it('takes the target from the last -j/-g, even when a comment mentions one', () => {
    expect(savedRule('X', '-m comment --comment "see -j FOO" -j BAR').target).toBe('BAR')
    expect(savedRule('X', '-p tcp -j DNAT --to-destination 10.0.0.2:80').target).toBe('DNAT')
    expect(savedRule('X', '-s 10.0.0.0/8 -g CNI-X').target).toBe('CNI-X')
    expect(savedRule('X', '-p tcp --dport 80').target).toBeUndefined()
    expect(savedRule('X', '-m comment --comment "a b" -j ACCEPT').comment).toBe('a b')
  })
  it('tokenises quotes and escapes as iptables-save writes them', () => {
    expect(tokenize('-m comment --comment "name: \\"a b\\" id: \\"c\\"" -j X')).toEqual(['-m', 'comment', '--comment', 'name: "a b" id: "c"', '-j', 'X'])
  })
  it('canonical keys equal across argument order, aliases, implicit -m tcp and address forms', () => {
    expect(canonicalKey(['-p', 'tcp', '--dport', '80', '-s', '10.0.0.2/24', '-j', 'X']))
      .toBe(canonicalKey(tokenize('-s 10.0.0.0/24 -p tcp -m tcp --dport 80 -j X')))
    expect(canonicalKey(['-m', 'comment', '--comment', 'c', '-m', 'multiport', '-p', 'tcp', '--destination-ports', '1,2', '-j', 'Y']))
      .toBe(canonicalKey(tokenize('-p tcp -m comment --comment c -m multiport --dports 1,2 -j Y')))
    expect(canonicalKey(['-s', '127.0.0.1'])).toBe(canonicalKey(['-s', '127.0.0.1/32']))
    expect(canonicalKey(['!', '-d', '224.0.0.0/4'])).not.toBe(canonicalKey(['-d', '224.0.0.0/4']))
  })
  it('a match on any address (masqAll: -s 0.0.0.0/0, -s ::/0) equals iptables-save\'s rule, which omits it', () => {
    expect(canonicalKey(['-p', 'tcp', '--dport', '8080', '-s', '0.0.0.0/0', '-j', 'CNI-HOSTPORT-SETMARK']))
      .toBe(canonicalKey(tokenize('-p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK')))
    expect(canonicalKey(['-s', '::/0', '-j', 'X'])).toBe(canonicalKey(['-j', 'X']))
    expect(canonicalKey(['!', '-s', '0.0.0.0/0', '-j', 'X'])).not.toBe(canonicalKey(['-j', 'X']))
  })
})

describe('ensure', () => {
  it('on an empty table creates chains with -N and the entry rules, MASQ jump at position 1', () => {
    const s = renderPortmapEnsure(portmap, 4, EMPTY_NAT)
    expect(s.startsWith('*nat\n')).toBe(true)
    expect(s.endsWith('COMMIT\n')).toBe(true)
    expect(s).toContain('-N CNI-HOSTPORT-SETMARK\n')
    expect(s).toContain('-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ')
    expect(s).toContain('-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT')
    expect(s).toContain('-A CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"test\\" id: \\"c1\\"" -m multiport -p tcp --destination-ports 8080,8081,8083,8084,8085 -j CNI-DN-917f9005c929d67b6ac60')
    expect(s).not.toMatch(/^:/m)
  })
  it('is empty when the recorded state already holds the intent (idempotent)', () => {
    expect(renderPortmapEnsure(portmap, 4, ours)).toBe('')
    expect(renderMasqEnsure(masq, 4, ours)).toBe('')
    expect(missingRules(portmap, 4, ours)).toEqual([])
    expect(missingRules(masq, 4, ours)).toEqual([])
  })
  it('never redeclares or re-adds shared chains and rules that exist (the reference made them)', () => {
    const other: PortmapIntent = { ...portmap, owner: { ...owner, containerId: 'c2' }, containerV6: undefined }
    const s = renderPortmapEnsure(other, 4, reference)
    expect(s).not.toContain('CNI-HOSTPORT-SETMARK -m')
    expect(s).not.toContain('-N CNI-HOSTPORT')
    expect(s).not.toContain('PREROUTING')
    expect(s).toContain('-N CNI-DN-')
  })
  it('adds what a second interface of the container needs to the shared owner chain, removing nothing', () => {
    const changed: PortmapIntent = { ...portmap, mappings: [{ hostPort: 9999, containerPort: 1, protocol: 'tcp' }] }
    const s = renderPortmapEnsure(changed, 4, ours)
    expect(s).not.toMatch(/^-[FDX] /m)
    expect(s).toContain('--destination-ports 9999 -j CNI-DN-917f9005c929d67b6ac60')
    expect(s).toMatch(/^-A CNI-DN-917f9005c929d67b6ac60 .*--dport 9999 -j DNAT --to-destination 10\.0\.0\.2:1$/m)
    expect(missingRules(changed, 4, ours).length).toBeGreaterThan(0)
    expect(renderPortmapEnsure(portmap, 4, ours)).toBe('')
  })
})

describe('remove and gc', () => {
  it('removes an owner without addresses: every jump from the saved state, then flush and delete', () => {
    expect(renderRemove('portmap', owner, ours)).toBe([
      '*nat',
      '-D CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"test\\" id: \\"c1\\"" -m multiport --dports 8080,8081,8083,8084,8085 -j CNI-DN-917f9005c929d67b6ac60',
      '-D CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"test\\" id: \\"c1\\"" -m multiport --dports 8080 -j CNI-DN-917f9005c929d67b6ac60',
      '-F CNI-DN-917f9005c929d67b6ac60', '-X CNI-DN-917f9005c929d67b6ac60', 'COMMIT', '',
    ].join('\n'))
    expect(renderRemove('masquerade', owner, ours)).toContain('-X CNI-917f9005c929d67b6ac60e32')
  })
  it('removes what the reference left, for one container only', () => {
    const ref1 = { network: 'refnet', containerId: 'ref1', ifname: 'eth0' }
    const m = renderRemove('masquerade', ref1, reference)
    expect(m).toContain('-D POSTROUTING -s 10.0.1.5/32 -m comment --comment "name: \\"refnet\\" id: \\"ref1\\"" -j CNI-fb539a2ef5304ef7f1a651af')
    expect(m).not.toContain('ref2')
    const p = renderRemove('portmap', ref1, reference)
    expect(p).toContain('-X CNI-DN-fb539a2ef5304ef7f1a65')
    expect(p).not.toContain('CNI-DN-68398ec88eee536140c76')
  })
  it('is empty when the owner has nothing', () => {
    expect(renderRemove('portmap', { ...owner, containerId: 'nobody' }, ours)).toBe('')
    expect(renderRemove('masquerade', owner, EMPTY_NAT)).toBe('')
  })
  it('gc keeps valid containers and removes the others of that network only', () => {
    const keep = [{ network: 'refnet', containerId: 'ref2', ifname: 'eth0' }]
    const p = renderGc('portmap', 'refnet', keep, reference)
    expect(p).toContain('-X CNI-DN-fb539a2ef5304ef7f1a65')
    expect(p).not.toContain('68398ec88eee536140c76')
    const m = renderGc('masquerade', 'refnet', keep, reference)
    expect(m).toContain('-X CNI-fb539a2ef5304ef7f1a651af')
    expect(m).not.toContain('CNI-68398ec88eee536140c76e12')
    expect(renderGc('portmap', 'othernet', [], reference)).toBe('')
  })
})
