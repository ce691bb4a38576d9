// The reconcile diff and its application at a thousand peers: exactly the missing, changed and stale entries
// (the lookups are keyed, so a key collision would show here), and the ip and bridge batches' order.
import { describe, expect, it } from 'vitest'
import { applyDataPlane } from '../../../src/node/kernel.ts'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import type { Lease } from '../../../src/node/leases.ts'
import { planDataPlane, vtepMac, type Uplink } from '../../../src/node/plan.ts'
import { reconcile, type Observed } from '../../../src/node/reconcile.ts'
import { subnetAt, subnetKey, subnetText } from '../../../src/node/subnets.ts'
import { formatIp, parseCidr } from '../../../src/plugin/addr.ts'
import type { IpLink } from '../../../src/system/index.ts'
import { renderFdbOp, renderIpOp } from '../../../src/system/ip.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const config = parseClusterConfig({ Network: '10.64.0.0/13', SubnetLen: 24, Backend: { Type: 'vxlan' } })
const uplink: Uplink = { name: 'eth0', mtu: 1500, address: parseCidr('192.168.64.1/18')! }
const lease = (i: number, host = i): Lease => {
  const subnet = subnetAt(config, i)!
  const publicIp = formatIp({ family: 4, value: uplink.address.ip.value + BigInt(host) })
  return { key: subnetKey(subnet), subnet, publicIp, backendType: 'vxlan', vtepMac: vtepMac(publicIp) }
}
const N = 1000
const self = lease(0)
const peers = Array.from({ length: N }, (_, i) => lease(i + 1))
const want = planDataPlane({ config, self, peers, uplink })
const device: IpLink = {
  ifindex: 5, ifname: 'tscni.1', flags: ['UP'], mtu: 1450, operstate: 'UNKNOWN', address: self.vtepMac!, promiscuity: 0, kind: 'vxlan',
  vxlan: { id: 1, local: self.publicIp, link: 'eth0', port: 8472, learning: false },
  addrs: [{ family: 'inet', local: formatIp(self.subnet.ip), prefixlen: 32, scope: 'global', tentative: false, dadfailed: false }],
}
/** What the kernel holds when it holds `ls` as programmed. */
const held = (ls: readonly Lease[]): Observed => ({
  links: [device],
  routes: ls.map((l) => ({ dst: subnetText(l.subnet), gateway: formatIp(l.subnet.ip), dev: 'tscni.1', protocol: '77' })),
  neighbours: ls.map((l) => ({ dst: formatIp(l.subnet.ip), lladdr: l.vtepMac!, state: ['PERMANENT'] })),
  fdb: ls.map((l) => ({ mac: l.vtepMac!, dst: l.publicIp })),
})

describe('reconcile at a thousand peers', () => {
  it('nothing to do when the kernel holds every peer', () => {
    expect(reconcile(want, held(peers))).toEqual({ ip: [], fdb: [] })
  })

  it('adds exactly the missing peers, removes exactly the departed ones, rewrites exactly the moved one', () => {
    const missing = peers.filter((_, i) => i % 100 === 7)
    const departed = Array.from({ length: 3 }, (_, k) => lease(N + 1 + k))
    // Peer 500 moved to another host: same subnet and next hop, a new MAC and FDB destination.
    const moved = lease(500, 4000)
    const kernel = held([...peers.filter((p) => !missing.includes(p) && p.key !== peers[499]!.key), moved, ...departed])
    const changes = reconcile(want, kernel)
    const ip = changes.ip.map(renderIpOp)
    const fdb = changes.fdb.map(renderFdbOp)
    const now = peers[499]!
    expect(ip).toEqual([
      ...missing.map((l) => `neigh replace ${formatIp(l.subnet.ip)} lladdr ${l.vtepMac} dev tscni.1 nud permanent`).slice(0, 5),
      `neigh replace ${formatIp(now.subnet.ip)} lladdr ${now.vtepMac} dev tscni.1 nud permanent`,
      ...missing.map((l) => `neigh replace ${formatIp(l.subnet.ip)} lladdr ${l.vtepMac} dev tscni.1 nud permanent`).slice(5),
      ...missing.map((l) => `route replace ${subnetText(l.subnet)} via ${formatIp(l.subnet.ip)} dev tscni.1 onlink proto 77`),
      ...departed.map((l) => `route del ${subnetText(l.subnet)} via ${formatIp(l.subnet.ip)} dev tscni.1 proto 77`),
      ...departed.map((l) => `neigh del ${formatIp(l.subnet.ip)} dev tscni.1`),
    ])
    expect(fdb).toEqual([
      ...[...missing.slice(0, 5), now, ...missing.slice(5)].map((l) => `fdb replace ${l.vtepMac} dev tscni.1 dst ${l.publicIp} self permanent`),
      `fdb del ${moved.vtepMac} dev tscni.1 dst ${moved.publicIp} self`,
      ...departed.map((l) => `fdb del ${l.vtepMac} dev tscni.1 dst ${l.publicIp} self`),
    ])
  })
})

describe('applyDataPlane: the ip and bridge batches', () => {
  // ip.batch resolves only when released: shows whether the FDB batch waited for it.
  const run = async (observed: Observed) => {
    const sys = createFakeSystem()
    let release = () => {}
    const order: string[] = []
    sys.on('ip.links', () => observed.links).on('ip.routes', () => observed.routes).on('ip.neighbours', () => observed.neighbours).on('ip.fdbEntries', () => observed.fdb)
      .on('ip.batch', () => new Promise<void>((r) => { release = () => { order.push('ip batch done'); r() } }))
      .on('ip.fdb', () => void order.push('fdb batch'))
    const applying = applyDataPlane(sys, want)
    for (let i = 0; i < 10; i++) await Promise.resolve()
    order.push('released')
    release()
    await applying
    return order
  }

  it('makes the FDB entries only after the ip batch when it creates the device', async () => {
    expect(await run({ links: [], routes: [], neighbours: [], fdb: [] })).toEqual(['released', 'ip batch done', 'fdb batch'])
  })

  it('runs both batches at once when the device is in place', async () => {
    const some = held(peers.slice(0, 900))
    expect(await run(some)).toEqual(['fdb batch', 'released', 'ip batch done'])
  })
})
