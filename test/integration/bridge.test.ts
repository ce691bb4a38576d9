// bridge end to end through the real executable in throwaway namespaces: two containers on one bridge reach each
// other and the gateway over IPv4 and IPv6 (ping and TCP), for each spec version and firewall backend; CHECK, DEL,
// and nothing left afterwards (no veth, reservation, rule or chain); GC and STATUS; IPAM executed from CNI_PATH.
import { beforeEach, describe, expect, it } from 'vitest'
import { addresses, bridgeConf, bridgeOk, firewallText, linkNames, listen, makeBinDir, ping, reservations, tcpGet, type Call } from '../support/bridge.ts'
import type { TestNetns } from '../support/netns.ts'
import { useTestNode } from '../support/test-node.ts'

const VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0']
const CONF = 'bridge-host-local.conflist'

const node = useTestNode()
const pool = node.pool
let host: TestNetns
let bin: string
let dataDir: string
beforeEach(() => void ({ host, bin, dataDir } = node))

const BACKENDS = ['iptables', 'nftables'] as const
const MATRIX = VERSIONS.flatMap((v) => BACKENDS.map((b) => [v, b] as const))

describe.each(MATRIX)('cniVersion %s, ipMasq with %s', (version, backend) => {
  it('two containers reach each other and the gateway over IPv4 and IPv6; CHECK; DEL leaves nothing', async () => {
    const config = bridgeConf(CONF, version, dataDir, { ipMasqBackend: backend })
    const [c1, c2] = [await pool.create('tscni-c'), await pool.create('tscni-c')]
    const call = (ns: TestNetns, id: string): Call => ({ host, bin, containerId: id, netns: ns.path })
    const r1 = (await bridgeOk('ADD', call(c1, 'ctr-1'), config)).json
    const r2 = (await bridgeOk('ADD', call(c2, 'ctr-2'), config)).json

    expect(r1.cniVersion).toBe(version)
    expect(r1.interfaces.map((i: { name: string }) => i.name)).toEqual(['cni0', expect.stringMatching(/^veth[0-9a-f]{11}$/), 'eth0'])
    expect(r1.interfaces[2].sandbox).toBe(c1.path)
    const ips2: string[] = r2.ips.map((ip: { address: string }) => ip.address.split('/')[0])
    expect(r1.ips.map((ip: { address: string }) => ip.address)).toEqual(['10.47.0.2/16', 'fd47:7c53:1a10::2/64'])
    expect(ips2).toEqual(['10.47.0.3', 'fd47:7c53:1a10::3'])
    if (version.startsWith('0.')) expect(r1.ips.map((ip: { version: string }) => ip.version)).toEqual(['4', '6'])
    else expect(r1.ips[0].version).toBeUndefined()
    expect(await addresses(host, 'cni0')).toEqual(['10.47.0.1/16', 'fd47:7c53:1a10::1/64'])

    for (const addr of ['10.47.0.1', 'fd47:7c53:1a10::1', ...ips2]) expect(await ping(c1, addr), `ping ${addr}`).toBe(true)
    const listener = listen(c2, 8080, 'hello-from-c2')
    node.defer(listener.stop)
    for (const addr of ips2) expect(await tcpGet(c1, addr, 8080), `tcp ${addr}`).toBe('hello-from-c2')
    expect(await tcpGet(host, ips2[0]!, 8080), 'tcp from the host side').toBe('hello-from-c2')

    const rules = await firewallText(host)
    // iptables comments read `name: "tscni" id: "ctr-1"` (escaped in iptables-save), nft ones `... id: ctr-1`.
    for (const id of ['ctr-1', 'ctr-2']) expect(rules, `masquerade rules of ${id}`).toMatch(backend === 'iptables' ? new RegExp(`-A POSTROUTING -s [0-9.]+/32 .*id: \\\\"${id}\\\\".* -j CNI-`) : new RegExp(`masquerade comment ".*id: ${id}"`))
    if (version !== '0.3.1') {
      await bridgeOk('CHECK', call(c1, 'ctr-1'), { ...config, prevResult: r1 })
    }
    await bridgeOk('DEL', call(c1, 'ctr-1'), { ...config, prevResult: r1 })
    await bridgeOk('DEL', call(c2, 'ctr-2'), config)
    expect(await linkNames(host)).toEqual(['cni0', 'lo'])
    expect(await linkNames(c1)).toEqual(['lo'])
    expect(reservations(dataDir, 'tscni')).toEqual([])
    expect(await firewallText(host)).not.toMatch(/ctr-[12]/)
  })
})

describe('GC and STATUS (1.1.0)', () => {
  it('GC releases the reservations and masquerade rules of attachments not in the valid list', async () => {
    const config = bridgeConf(CONF, '1.1.0', dataDir, { ipMasqBackend: 'nftables' })
    const [c1, c2] = [await pool.create('tscni-c'), await pool.create('tscni-c')]
    await bridgeOk('ADD', { host, bin, containerId: 'keep-1', netns: c1.path }, config)
    await bridgeOk('ADD', { host, bin, containerId: 'stale-2', netns: c2.path }, config)
    expect(reservations(dataDir, 'tscni')).toHaveLength(4)
    await bridgeOk('STATUS', { host, bin, containerId: '', netns: '' }, config)
    await bridgeOk('GC', { host, bin, containerId: '', netns: '', ifname: '' }, { ...config, 'cni.dev/valid-attachments': [{ containerID: 'keep-1', ifname: 'eth0' }] })
    expect(reservations(dataDir, 'tscni').sort()).toEqual(['10.47.0.2', 'fd47:7c53:1a10::2'])
    const rules = await firewallText(host)
    expect(rules).toContain('id: keep-1')
    expect(rules).not.toContain('stale-2')
    expect(await ping(c1, '10.47.0.1')).toBe(true)
  })
})

describe('IPAM executed from CNI_PATH', () => {
  it('works with the reference host-local (any IPAM type other than our own is executed)', async () => {
    const ref = makeBinDir(true)
    node.defer(ref.cleanup)
    const config = bridgeConf(CONF, '1.0.0', dataDir, { ipMasq: false })
    const c1 = await pool.create('tscni-c')
    const call: Call = { host, bin: ref.dir, containerId: 'ref-1', netns: c1.path }
    const r = (await bridgeOk('ADD', call, config)).json
    expect(r.ips.map((ip: { address: string }) => ip.address)).toEqual(['10.47.0.2/16', 'fd47:7c53:1a10::2/64'])
    expect(await ping(c1, 'fd47:7c53:1a10::1')).toBe(true)
    await bridgeOk('DEL', call, config)
    expect(reservations(dataDir, 'tscni')).toEqual([])
  })
})

describe('the conf/ lists load and work', () => {
  it.each(['bridge-host-local.conflist', 'bridge-host-local-portmap-iptables.conflist', 'bridge-host-local-portmap-nftables.conflist'])('%s: bridge ADD and DEL', async (file) => {
    const config = bridgeConf(file, '1.1.0', dataDir)
    const c1 = await pool.create('tscni-c')
    const call: Call = { host, bin, containerId: 'conf-1', netns: c1.path }
    const r = (await bridgeOk('ADD', call, config)).json
    expect(r.ips).toHaveLength(2)
    expect(await ping(c1, '10.47.0.1')).toBe(true)
    await bridgeOk('DEL', call, config)
    expect(await linkNames(host)).toEqual(['cni0', 'lo'])
  })
})
