// portmap end to end through the real executable: the conf/ list bridge + host-local + portmap run by a libcni-like
// runtime inside a throwaway host namespace, for both firewall backends. TCP and UDP requests reach the container
// through its host port from the host address, from 127.0.0.1 (IPv4 only: kernel NAT cannot map ::1), from a second
// container and by hairpin; a UDP host port moved to a new container is not black-holed by stale conntrack entries.
import { beforeEach, describe, expect, it } from 'vitest'
import { listen, tcpGet } from '../support/bridge.ts'
import { CniRuntime, type Attachment } from '../support/cni-runtime.ts'
import type { TestNetns } from '../support/netns.ts'
import { useTestNode } from '../support/test-node.ts'
import { BACKENDS, containerIps, gateways, ipv6Settled, portmapNetwork, udpGet, udpListen } from '../support/portmap.ts'

const node = useTestNode()
const pool = node.pool
let host: TestNetns
let bin: string
let dataDir: string
beforeEach(() => void ({ host, bin, dataDir } = node))

type Mapping = { hostPort: number; containerPort: number; protocol: string }
const tcpUdp = (hostPort: number): Mapping[] => [
  { hostPort, containerPort: 80, protocol: 'tcp' },
  { hostPort, containerPort: 53, protocol: 'udp' },
]

function attachment(ns: TestNetns, containerId: string, portMappings: Mapping[]): Attachment {
  return { containerId, netns: ns.path, ifname: 'eth0', capabilityArgs: { portMappings } }
}

// A container answering on tcp/80 and udp/53 with its own name, so every reply says who served it.
function serve(ns: TestNetns, name: string): void {
  for (const l of [listen(ns, 80, `tcp-${name}`), udpListen(ns, 53, `udp-${name}`)]) node.defer(l.stop)
}

describe.each(BACKENDS)('portmap with %s', (backend) => {
  it('serves tcp and udp through the host port from the host address, 127.0.0.1, a second container and by hairpin, IPv4 and IPv6', async () => {
    const cni = new CniRuntime(portmapNetwork(backend, dataDir), { binDir: bin, hostNetns: host.name })
    const [c1, c2] = [await pool.create('tscni-c'), await pool.create('tscni-c')]
    const r1 = await cni.add(attachment(c1, 'pm-one', tcpUdp(8080)))
    const r2 = await cni.add(attachment(c2, 'pm-two', tcpUdp(9090)))
    // portmap passes the bridge's result through (spec "Chained plugins"): the runtime's final result still has the addresses.
    expect(r1.ips.map((ip: { address: string }) => ip.address)).toEqual(['10.47.0.2/16', 'fd47:7c53:1a10::2/64'])
    expect(containerIps(r2)).toEqual({ v4: '10.47.0.3', v6: 'fd47:7c53:1a10::3' })
    serve(c1, 'pm-one')
    serve(c2, 'pm-two')
    await ipv6Settled(host, 'cni0')
    const gw = gateways(r1)
    expect(gw).toEqual({ v4: '10.47.0.1', v6: 'fd47:7c53:1a10::1' })

    const paths: Array<[string, TestNetns, string, number, string]> = []
    for (const [family, addr] of [['IPv4', gw.v4], ['IPv6', gw.v6]] as const) {
      paths.push(
        [`${family} host address`, host, addr, 8080, 'pm-one'],
        [`${family} second container`, c2, addr, 8080, 'pm-one'],
        [`${family} hairpin`, c1, addr, 8080, 'pm-one'],
        [`${family} first container to the second's host port`, c1, addr, 9090, 'pm-two'],
      )
    }
    paths.push(['IPv4 127.0.0.1', host, '127.0.0.1', 8080, 'pm-one'], ['IPv4 127.0.0.1, second mapping', host, '127.0.0.1', 9090, 'pm-two'])
    const got: string[] = []
    const want: string[] = []
    for (const [label, from, addr, port, who] of paths) {
      got.push(`${label}: ${await tcpGet(from, addr, port, 10)} ${await udpGet(from, addr, port)}`)
      want.push(`${label}: tcp-${who} udp-${who}`)
    }
    expect(got).toEqual(want)
  })

  it('serves a host port sent with go-cni\'s Go field names (HostPort, ContainerPort, Protocol, HostIP), as containerd\'s CRI sends it', async () => {
    const cni = new CniRuntime(portmapNetwork(backend, dataDir), { binDir: bin, hostNetns: host.name })
    const c = await pool.create('tscni-c')
    const goCni = { containerId: 'pm-go', netns: c.path, ifname: 'eth0', capabilityArgs: { portMappings: [{ HostPort: 8085, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] } }
    const r = await cni.add(goCni)
    serve(c, 'pm-go')
    expect(await tcpGet(host, gateways(r).v4, 8085, 10)).toBe('tcp-pm-go')
    expect(await tcpGet(host, '127.0.0.1', 8085, 10)).toBe('tcp-pm-go')
    await cni.del(goCni)
    expect(await tcpGet(host, gateways(r).v4, 8085, 2), 'nothing answers once DEL removed the mapping').toBe('')
  })

  // Conntrack entries are deleted over ctnetlink by default, by conntrack(8) with TSCNI_NETLINK=0.
  it.each([['IPv4', 'netlink'], ['IPv6', 'netlink'], ['IPv4', 'conntrack(8)']] as const)('%s, %s: a udp host port moved to a new container reaches it (stale conntrack entries are flushed)', async (family, path) => {
    const cni = new CniRuntime(portmapNetwork(backend, dataDir), { binDir: bin, hostNetns: host.name, ...(path === 'netlink' ? {} : { env: { TSCNI_NETLINK: '0' } }) })
    const [c1, c2] = [await pool.create('tscni-c'), await pool.create('tscni-c')]
    const a1 = attachment(c1, 'udp-old', [{ hostPort: 5300, containerPort: 53, protocol: 'udp' }])
    const r1 = await cni.add(a1)
    serve(c1, 'old')
    await ipv6Settled(host, 'cni0')
    const gw = family === 'IPv4' ? gateways(r1).v4 : gateways(r1).v6
    const oldIp = family === 'IPv4' ? containerIps(r1).v4 : containerIps(r1).v6
    const conntrack = async () => String((await host.exec('conntrack', ['-L', '-f', family === 'IPv4' ? 'ipv4' : 'ipv6', '-p', 'udp', '--dport', '5300'], { reject: false })).stdout)
    // One client socket (fixed source port) for the whole test, like a long-lived client: the same 5-tuple.
    const send = (timeoutMs?: number) => udpGet(host, gw, 5300, { sourcePort: 40000, ...(timeoutMs ? { timeoutMs } : {}) })
    expect(await send()).toBe('udp-old')
    expect(await conntrack()).toContain(oldIp)

    await cni.del(a1)
    expect(await conntrack(), 'DEL flushes the entries towards the old container').not.toContain(oldIp)
    // Nothing listens on the host for 5300 now; the attempt leaves an un-NATed entry for this 5-tuple behind, which
    // would swallow the next datagrams unless ADD flushes it.
    expect(await send(600)).toBe('')
    expect(await conntrack(), 'a stale entry exists before the second ADD').toMatch(/dport=5300/)

    const r2 = await cni.add(attachment(c2, 'udp-new', [{ hostPort: 5300, containerPort: 53, protocol: 'udp' }]))
    serve(c2, 'new')
    expect(family === 'IPv4' ? containerIps(r2).v4 : containerIps(r2).v6).not.toBe(oldIp)
    expect(await send()).toBe('udp-new')
  })
})
