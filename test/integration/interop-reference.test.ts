// Interop with Debian's reference plugins (/usr/lib/cni) in one plugin chain, through the built executable in a
// throwaway host namespace: our bridge with the reference host-local and portmap, and the reference bridge with our
// host-local and portmap, for each firewall backend the combination can use. Two containers are added, CHECKed,
// talk to each other and through host ports, are deleted, and nothing of them is left: no veth, no reservation,
// no firewall rule or chain.
import { beforeEach, describe, expect, it } from 'vitest'
import { masqChain } from '../../src/firewall/iptables-rules.ts'
import type { Owner } from '../../src/firewall/model.ts'
import { hostVethName } from '../../src/plugin/ids.ts'
import { addresses, linkNames, listen, makeMixedBinDir, ping, reservations, tcpGet, type RoleName } from '../support/bridge.ts'
import { CniRuntime, type Attachment, type ConfList } from '../support/cni-runtime.ts'
import type { TestNetns } from '../support/netns.ts'
import { containerIps, gateways, ipv6Settled, ownedLines, ownedPatterns, portmapNetwork, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const pool = node.pool
let host: TestNetns
let dataDir: string
beforeEach(() => void ({ host, dataDir } = node))

interface Combo {
  /** The roles run by the reference plugins; the others are tscni. */
  readonly reference: readonly RoleName[]
  /** The bridge's ipMasq backend (the reference bridge knows only iptables). */
  readonly masq: Backend
  /** portmap's backend (the reference portmap of Debian's 1.1.1 knows only iptables). */
  readonly portmap: Backend
}

const COMBOS: Array<[string, Combo]> = [
  ['our bridge (ipMasq by iptables) + reference host-local and portmap', { reference: ['host-local', 'portmap'], masq: 'iptables', portmap: 'iptables' }],
  ['our bridge (ipMasq by nftables) + reference host-local and portmap', { reference: ['host-local', 'portmap'], masq: 'nftables', portmap: 'iptables' }],
  ['reference bridge + our host-local and portmap (iptables)', { reference: ['bridge'], masq: 'iptables', portmap: 'iptables' }],
  ['reference bridge + our host-local and portmap (nftables)', { reference: ['bridge'], masq: 'iptables', portmap: 'nftables' }],
]

// The demo's dual-stack network (bridge with ipMasq and hairpin, host-local, portmap with snat) in cniVersion 1.0.0,
// the newest the reference plugins here speak. The reference ignores the backend keys it does not know.
function network(combo: Combo): ConfList {
  const list = portmapNetwork('iptables', dataDir, { cniVersion: '1.0.0' })
  const [bridge, portmap] = list.plugins
  return { ...list, plugins: [{ ...bridge!, ipMasqBackend: combo.masq }, { ...portmap!, backend: combo.portmap }] }
}

function attachment(ns: TestNetns, containerId: string, hostPort: number): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] } }
}

// Everything that names one attachment in the host's firewall: id, chains (portmap and masquerade), addresses, host port.
function owned(att: Attachment, result: any, hostPort: number): RegExp[] {
  const owner: Owner = { network: 'tscni', containerId: att.containerId, ifname: att.ifname }
  const ips = containerIps(result)
  return [...ownedPatterns(owner, [ips.v4, ips.v6]), new RegExp(masqChain(owner)), new RegExp(`\\b${hostPort}\\b`)]
}

async function hostVeths(): Promise<string[]> {
  return (await linkNames(host)).filter((n) => n.startsWith('veth'))
}

describe.each(COMBOS)('interop: %s', (_name, combo) => {
  it('ADD two containers, CHECK, traffic between them and through host ports, DEL, nothing left', async () => {
    const bin = makeMixedBinDir(combo.reference)
    node.defer(bin.cleanup)
    const cni = new CniRuntime(network(combo), { binDir: bin.dir, hostNetns: host.name })
    const [c1, c2] = [await pool.create('tscni-c'), await pool.create('tscni-c')]
    const a1 = attachment(c1, 'interop-1', 8081)
    const a2 = attachment(c2, 'interop-2', 8082)
    const r1 = await cni.add(a1)
    const r2 = await cni.add(a2)
    expect(await hostVeths()).toHaveLength(2)

    // Each container holds the addresses the chain reported, distinct from the other's.
    const [ip1, ip2] = [containerIps(r1), containerIps(r2)]
    expect(ip1.v4 && ip1.v6 && ip2.v4 && ip2.v6).toBeTruthy()
    expect(ip1.v4).not.toBe(ip2.v4)
    expect((await addresses(c1, 'eth0')).map((a) => a.split('/')[0])).toEqual(expect.arrayContaining([ip1.v4, ip1.v6]))
    expect((await addresses(c2, 'eth0')).map((a) => a.split('/')[0])).toEqual(expect.arrayContaining([ip2.v4, ip2.v6]))
    expect(reservations(dataDir, 'tscni')).toHaveLength(4)
    // Each plugin CHECKs the result the other implementation produced. Not the reference portmap: its CHECK fails
    // on every dual-stack attachment, ours or the reference bridge's alike, because it looks for the IPv4 rules in
    // ip6tables too (checkPorts in plugins/meta/portmap, still so upstream).
    for (const att of [a1, a2]) {
      if (combo.reference.includes('portmap')) await cni.runOne('CHECK', 'bridge', att)
      else await cni.check(att)
    }

    const l1 = listen(c1, 80, 'from-c1')
    const l2 = listen(c2, 80, 'from-c2')
    node.defer(l1.stop, l2.stop)
    await ipv6Settled(host, 'cni0')
    // Container to container, both families.
    expect(await tcpGet(c1, ip2.v4, 80)).toBe('from-c2')
    expect(await ping(c2, ip1.v6)).toBe(true)
    // Host ports: from the host through the bridge address and 127.0.0.1, and from the other container.
    const gw = gateways(r1).v4
    expect(await tcpGet(host, gw, 8081)).toBe('from-c1')
    expect(await tcpGet(host, '127.0.0.1', 8082)).toBe('from-c2')
    expect(await tcpGet(c2, gw, 8081)).toBe('from-c1')

    // The patterns find each container's rules while it is there, so their absence later means something.
    const [own1, own2] = [owned(a1, r1, 8081), owned(a2, r2, 8082)]
    expect((await ownedLines(host, own1)).length).toBeGreaterThan(0)
    expect((await ownedLines(host, own2)).length).toBeGreaterThan(0)
    // The bridge that ran is the one meant: ours names host veths deterministically, the reference randomly.
    const ours = [a1, a2].map((a) => hostVethName('tscni', a.containerId, a.ifname)).sort()
    if (combo.reference.includes('bridge')) expect((await hostVeths()).filter((v) => ours.includes(v))).toEqual([])
    else expect(await hostVeths()).toEqual(ours)

    await cni.del(a1)
    // The other container is untouched by the first one's DEL.
    expect(await tcpGet(host, gw, 8082)).toBe('from-c2')
    await cni.del(a2)
    expect(await ownedLines(host, [...own1, ...own2])).toEqual([])
    expect(await hostVeths()).toEqual([])
    expect(reservations(dataDir, 'tscni')).toEqual([])
    expect(await linkNames(c1)).toEqual(['lo'])
    expect(await linkNames(c2)).toEqual(['lo'])
  })
})
