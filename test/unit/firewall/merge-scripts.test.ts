// iptables ensureAll's merge: scripts rendered from one state become one transaction, shared lines once.
import { describe, expect, it } from 'vitest'
import { mergeScripts, renderMasqEnsure, renderPortmapEnsure } from '../../../src/firewall/iptables-render.ts'
import { EMPTY_NAT } from '../../../src/firewall/iptables-save.ts'
import type { PortmapIntent } from '../../../src/firewall/model.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'

const owner = (id: string) => ({ network: 'net', containerId: id, ifname: 'eth0' })
const pm = (id: string, port: number, addr: string): PortmapIntent => ({
  kind: 'portmap', owner: owner(id), containerV4: parseCidr(addr)!, mappings: [{ hostPort: port, containerPort: 80, protocol: 'tcp' }], snat: true, masqAll: false, markMasqBit: 13,
})

describe('mergeScripts', () => {
  it('keeps each owner\'s lines and the shared chains and entries once, in one *nat ... COMMIT', () => {
    const a = renderPortmapEnsure(pm('a', 8080, '10.1.0.2/16'), 4, EMPTY_NAT)
    const b = renderPortmapEnsure(pm('b', 8081, '10.1.0.3/16'), 4, EMPTY_NAT)
    const m = renderMasqEnsure({ kind: 'masquerade', owner: owner('a'), addresses: [parseCidr('10.1.0.2/16')!] }, 4, EMPTY_NAT)
    const merged = mergeScripts([a, b, m])
    const lines = merged.trim().split('\n')
    expect(lines[0]).toBe('*nat')
    expect(lines.at(-1)).toBe('COMMIT')
    expect(lines.filter((l) => l === '*nat' || l === 'COMMIT')).toHaveLength(2)
    expect(lines.filter((l) => l === '-N CNI-HOSTPORT-DNAT')).toHaveLength(1)
    expect(lines.filter((l) => l.startsWith('-A PREROUTING') && l.includes('CNI-HOSTPORT-DNAT'))).toHaveLength(1)
    for (const script of [a, b, m]) for (const l of script.trim().split('\n')) expect(lines).toContain(l)
    expect(new Set(lines).size).toBe(lines.length)
  })

  it('nothing to do gives no script', () => {
    expect(mergeScripts(['', ''])).toBe('')
  })
})
