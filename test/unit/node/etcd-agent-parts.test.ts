// The pure parts of the etcd client (prefix ranges, the watch stream's framing and messages), the node options,
// static peers files and the status report.
import { describe, expect, it } from 'vitest'
import { decodeKv, decodeWatchMessage, EtcdError, prefixEnd, splitJsonStream } from '../../../src/node/etcd-wire.ts'
import { parseNodeOptions } from '../../../src/node/options.ts'
import { parseStaticCluster } from '../../../src/node/static-peers.ts'
import { nodeStatus, renderStatus } from '../../../src/node/status.ts'
import type { NodeState } from '../../../src/node/local-files.ts'
import { renderConflist } from '../../../src/node/local-files.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('etcd gateway encoding', () => {
  it('prefixEnd increments the last byte that can be incremented', () => {
    expect(Buffer.from(prefixEnd('/a/'), 'base64').toString()).toBe('/a0')
    // UTF-8 of U+00FF is c3 bf: the last byte is incremented
    expect(Buffer.from(prefixEnd('a\u00ff'), 'base64')).toEqual(Buffer.from([0x61, 0xc3, 0xc0]))
  })

  it('decodeKv decodes base64 and omits an absent lease', () => {
    expect(decodeKv({ key: b64('/k'), value: b64('v'), create_revision: '3', mod_revision: '4', lease: '77' })).toEqual({ key: '/k', value: 'v', createRevision: '3', modRevision: '4', lease: '77' })
    expect(decodeKv({ key: b64('/k') })).toEqual({ key: '/k', value: '', createRevision: '0', modRevision: '0' })
  })

  it('splitJsonStream frames concatenated objects, also split across chunks and with braces in strings', () => {
    const a = JSON.stringify({ result: { x: 'a}{"' } })
    const b = JSON.stringify({ result: { y: [1, { z: 2 }] } })
    expect(splitJsonStream(`${a}\n${b}\n`)).toEqual({ objects: [JSON.parse(a), JSON.parse(b)], rest: '' })
    const first = splitJsonStream(`${a}\n${b.slice(0, 10)}`)
    expect(first.objects).toEqual([JSON.parse(a)])
    expect(splitJsonStream(first.rest + b.slice(10)).objects).toEqual([JSON.parse(b)])
  })

  it('decodeWatchMessage reads events (PUT is the omitted default), compaction, cancellation and errors', () => {
    const events = decodeWatchMessage({ result: { header: { revision: '9' }, events: [{ kv: { key: b64('/s/a'), value: b64('1') } }, { type: 'DELETE', kv: { key: b64('/s/b') } }] } })
    expect(events.revision).toBe('9')
    expect(events.events.map((e) => [e.type, e.kv.key])).toEqual([['put', '/s/a'], ['delete', '/s/b']])
    expect(decodeWatchMessage({ result: { header: { revision: '9' }, created: true } })).toEqual({ events: [], revision: '9' })
    expect(decodeWatchMessage({ result: { compact_revision: '5', canceled: true } })).toEqual({ events: [], compacted: '5' })
    expect(decodeWatchMessage({ result: { canceled: true, cancel_reason: 'no leader' } })).toEqual({ events: [], canceled: 'no leader' })
    expect(() => decodeWatchMessage({ error: { message: 'boom' } })).toThrow(EtcdError)
  })
})

describe('parseNodeOptions', () => {
  it('has defaults and reads every option', () => {
    const o = parseNodeOptions(['--etcd-endpoints', 'https://10.0.0.1:2379, https://10.0.0.2:2379', '--etcd-cafile', 'ca', '--etcd-certfile=c', '--etcd-keyfile', 'k', '--ttl', '10', '--firewall', 'nftables', '--json'], {})
    expect(o).toMatchObject({ endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], caFile: 'ca', certFile: 'c', keyFile: 'k', ttl: 10, resync: 30, firewall: 'nftables', json: true, prefix: '/tscni/network', stateDir: '/var/lib/tscni/node', networkName: 'tscni-cluster', bridge: 'cni0' })
    expect(parseNodeOptions(['--etcd-system-ca'], { TSCNI_ETCD_ENDPOINTS: 'https://e:2379' })).toMatchObject({ endpoints: ['https://e:2379'], etcdSystemCa: true, acceptConfigChange: false })
    expect(parseNodeOptions(['--etcd-prefix', '/x/y/'], {})).toMatchObject({ prefix: '/x/y' })
  })

  it.each([
    [['--etcd-endpoints', 'http://10.0.0.1:2379'], /plain HTTP.*--insecure-http/],
    [['--etcd-endpoints', 'nonsense'], /is not a URL/],
    [['--etcd-endpoints', 'ftp://x'], /must be https/],
    [['--peers', 'f', '--etcd-endpoints', 'https://x', '--etcd-cafile', 'ca'], /exclude each other/],
    [['--etcd-endpoints', 'https://x'], /https needs --etcd-cafile .* or --etcd-system-ca/],
    [['--etcd-certfile', 'c'], /go together/],
    [['--ttl', '1'], /--ttl must be an integer from 2/],
    [['--resync', 'x'], /--resync must be an integer/],
    [['--public-ip', 'fd00::1'], /--public-ip must be an IPv4/],
    [['--firewall', 'pf'], /--firewall must be iptables or nftables/],
    [['--etcd-prefix', 'x'], /must start with/],
    [['--bridge', 'a-very-long-bridge-name'], /not a valid interface name/],
    [['--network-name', '../x'], /not a valid CNI network name/],
    [['--what'], /unknown argument "--what"/],
    [['--ttl'], /--ttl needs a value/],
  ])('refuses %j', (args, message) => {
    expect(parseNodeOptions(args, {})).toMatch(message)
  })

  it('allows plain HTTP only when asked', () => {
    expect(parseNodeOptions(['--etcd-endpoints', 'http://127.0.0.1:2379', '--insecure-http'], {})).toMatchObject({ endpoints: ['http://127.0.0.1:2379'] })
  })
})

describe('parseStaticCluster', () => {
  it('turns the declared nodes into checked leases with MACs from their addresses', () => {
    const c = parseStaticCluster(JSON.stringify({ Network: '10.77.0.0/16', Backend: { Type: 'vxlan' }, Nodes: [{ Subnet: '10.77.1.0/24', PublicIP: '192.168.77.11' }, { Subnet: '10.77.2.0/24', PublicIP: '192.168.77.12' }] }))
    expect(c.leases.map((l) => [l.key, l.publicIp, l.vtepMac])).toEqual([['10.77.1.0-24', '192.168.77.11', '0e:2a:c0:a8:4d:0b'], ['10.77.2.0-24', '192.168.77.12', '0e:2a:c0:a8:4d:0c']])
    expect(c.warnings).toEqual([])
  })

  it('skips bad nodes with a warning and refuses a bad file', () => {
    const c = parseStaticCluster(JSON.stringify({ Network: '10.77.0.0/16', Backend: { Type: 'host-gw' }, Nodes: [{ Subnet: 'x' }, { Subnet: '10.88.1.0/24', PublicIP: '192.168.77.11' }, { Subnet: '10.77.3.0/24', PublicIP: 'nope' }, 5] }))
    expect(c.leases).toEqual([])
    expect(c.warnings).toHaveLength(4)
    expect(c.warnings[0]).toMatch(/Nodes\[0\]: Subnet "x"/)
    expect(() => parseStaticCluster('{')).toThrow(/not JSON/)
    expect(() => parseStaticCluster(JSON.stringify({ Network: '10.77.0.0/16' }))).toThrow(/needs "Nodes"/)
    expect(() => parseStaticCluster(JSON.stringify({ Network: 'x', Nodes: [] }))).toThrow(/Network must be/)
  })
})

describe('status and the generated CNI config', () => {
  const state: NodeState = {
    subnet: '10.77.1.0/24', publicIp: '192.168.77.11', network: '10.77.0.0/16', backend: 'host-gw', mtu: 1500, uplink: 'eth0', leaseId: '42', firewall: 'iptables',
    cniConfFile: '/etc/cni/net.d/10-tscni-cluster.conflist', updated: '2026-01-01T00:00:00.000Z', warnings: ['w1'],
    peers: [{ subnet: '10.77.2.0/24', publicIp: '192.168.77.12', route: 'via 192.168.77.12 dev eth0' }, { subnet: '10.77.3.0/24', publicIp: '192.168.77.13', route: 'via 192.168.77.13 dev eth0' }],
  }
  it('marks each peer installed or missing from the kernel routes and lists stray tagged routes', () => {
    const s = nodeStatus(state, [
      { dst: '10.77.2.0/24', gateway: '192.168.77.12', dev: 'eth0', protocol: '77' },
      { dst: '10.77.9.0/24', gateway: '192.168.77.19', dev: 'eth0', protocol: '77' },
      { dst: '10.77.3.0/24', gateway: '192.168.77.13', dev: 'eth0', protocol: 'static' },
    ])
    expect(s.peers.map((p) => p.installed)).toEqual([true, false])
    expect(s.strayRoutes).toEqual(['10.77.9.0/24 via 192.168.77.19 dev eth0'])
    const text = renderStatus(s)
    expect(text).toContain('node 192.168.77.11 on eth0: subnet 10.77.1.0/24 of 10.77.0.0/16, host-gw, pod MTU 1500, masquerade by iptables')
    expect(text).toMatch(/10\.77\.3\.0\/24 +at 192\.168\.77\.13 +via 192\.168\.77\.13 dev eth0 +MISSING in the kernel/)
    expect(text).toContain('stray tagged route (removed at the next reconcile): 10.77.9.0/24')
    expect(text).toContain('warning: w1')
  })

  it('the conflist hands the leased subnet to the bridge with ipMasq off', () => {
    const conf = JSON.parse(renderConflist({ name: 'tscni-cluster', bridge: 'cni0', subnet: '10.77.1.0/24', gateway: '10.77.1.1', mtu: 1450, ipamDataDir: '/d' }))
    expect(conf.plugins[0]).toMatchObject({ type: 'tscni-bridge', bridge: 'cni0', isGateway: true, ipMasq: false, mtu: 1450, ipam: { type: 'tscni-host-local', ranges: [[{ subnet: '10.77.1.0/24', gateway: '10.77.1.1' }]], dataDir: '/d' } })
    expect(conf.plugins[1].type).toBe('tscni-portmap')
  })
})
