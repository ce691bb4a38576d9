// What the node agent refuses to trust from etcd (pure parts): leases against each other, the cluster config's
// bounds, conflicts with the host and the pin, a route held by someone else, capped values and watch messages,
// and logging at a bounded rate.
import { describe, expect, it } from 'vitest'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import { configBoundsProblems, configHostProblems, configText, pinMismatch } from '../../../src/node/config-trust.ts'
import { decodeKv, EtcdTooLargeError, JsonStreamSplitter, MAX_VALUE_BYTES } from '../../../src/node/etcd-wire.ts'
import { cut, overlappingPairs, refuseOnSegment, refuseUntrusted } from '../../../src/node/lease-trust.ts'
import { parseLeases, type Lease, type StoreEntry } from '../../../src/node/leases.ts'
import { vtepMac } from '../../../src/node/plan.ts'
import { reconcile } from '../../../src/node/reconcile.ts'
import { changedWarnings, retryReporter } from '../../../src/node/retry-log.ts'

const config = parseClusterConfig({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } })
const P = '/tscni/network/subnets/'
const lease = (n: number, ip = `192.168.77.${10 + n}`, mac = vtepMac(ip)): Lease => ({ key: `10.77.${n}.0-24`, subnet: parseCidr(`10.77.${n}.0/24`)!, publicIp: ip, backendType: 'vxlan', vtepMac: mac })
const entry = (n: number, ip: string, mac = vtepMac(ip)): StoreEntry => ({ key: `${P}10.77.${n}.0-24`, value: JSON.stringify({ PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } }) })

describe('refuseUntrusted', () => {
  it('keeps honest leases', () => {
    expect(refuseUntrusted([lease(1), lease(2), lease(3)], config, P)).toEqual({ leases: [lease(1), lease(2), lease(3)], warnings: [] })
  })

  it('refuses a VtepMAC that is not derived from the PublicIP (another node\'s MAC)', () => {
    const attacker = lease(9, '192.168.77.66', vtepMac('192.168.77.12'))
    const r = refuseUntrusted([lease(1), lease(2), attacker], config, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.1.0-24', '10.77.2.0-24'])
    expect(r.warnings).toEqual([`ignoring lease "${P}10.77.9.0-24": its VtepMAC 0e:2a:c0:a8:4d:0c is not the one derived from its PublicIP 192.168.77.66 (0e:2a:c0:a8:4d:42)`])
  })

  it('refuses both leases of one PublicIP (and so of one derived MAC)', () => {
    const r = refuseUntrusted([lease(1), lease(2), lease(9, '192.168.77.12')], config, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.1.0-24'])
    expect(r.warnings.join('\n')).toMatch(/10\.77\.2\.0-24": its PublicIP 192\.168\.77\.12 is also claimed by 10\.77\.9\.0-24/)
    expect(r.warnings.join('\n')).toMatch(/10\.77\.9\.0-24": its PublicIP 192\.168\.77\.12 is also claimed by 10\.77\.2\.0-24/)
  })

  it('refuses both leases of one MAC even when the MAC check is bypassed by a peers file (host-gw has none)', () => {
    const a = { ...lease(1), vtepMac: '0e:00:00:00:00:01' }
    const b = { ...lease(2), vtepMac: '0e:00:00:00:00:01' }
    const r = refuseUntrusted([a, b], config, P)
    expect(r.leases).toEqual([])
  })

  it('refuses a PublicIP inside the cluster network', () => {
    const r = refuseUntrusted([lease(1, '10.77.200.5')], config, P)
    expect(r.warnings).toEqual([`ignoring lease "${P}10.77.1.0-24": its PublicIP 10.77.200.5 lies in the cluster network 10.77.0.0/16`])
  })

  it('finds overlaps on the sorted list, also of different sizes, in well under a second for 65,535 leases', () => {
    const wide: Lease = { ...lease(1), key: '10.77.0.0-20', subnet: parseCidr('10.77.0.0/20')! }
    expect(overlappingPairs([lease(20), lease(3), wide, lease(15)]).map(([a, b]) => [a.key, b.key])).toEqual([['10.77.0.0-20', '10.77.3.0-24'], ['10.77.0.0-20', '10.77.15.0-24']])
    const many: Lease[] = []
    for (let i = 0; i < 65_535; i++) many.push({ key: `k${i}`, subnet: { ip: { family: 4, value: (10n << 24n) + (BigInt(i) << 8n) }, prefix: 24 } as never, publicIp: `172.16.${i >> 8}.${i & 255}`, backendType: 'host-gw' })
    const t = performance.now()
    expect(overlappingPairs(many)).toEqual([])
    expect(performance.now() - t).toBeLessThan(1_000)
  })

  it('parseLeases applies it, and a lease of the cluster\'s first subnet is named as such', () => {
    const r = parseLeases([entry(1, '192.168.77.11'), entry(2, '192.168.77.12', vtepMac('192.168.77.11'))], config, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.1.0-24'])
    // Both still block their keys: a refused lease is not a free subnet.
    expect(r.taken.map((t) => t.key)).toEqual(['10.77.1.0-24', '10.77.2.0-24'])
  })

  it('an oversize value is skipped unparsed and still blocks its key; warnings cut values', () => {
    const r = parseLeases([{ key: `${P}10.77.5.0-24`, value: '', oversize: 1_000_000 }], config, P)
    expect(r.warnings).toEqual([`ignoring lease "${P}10.77.5.0-24": the value is 1000000 bytes, over the limit for a lease`])
    expect(r.taken).toEqual([{ key: '10.77.5.0-24' }])
    const long = parseLeases([{ key: `${P}10.77.5.0-24`, value: JSON.stringify({ PublicIP: 'x'.repeat(3000) }) }], config, P)
    expect(long.warnings[0]!.length).toBeLessThan(200)
    expect(cut('a'.repeat(100), 10)).toBe('aaaaaaaaaa… (100 characters)')
  })
})

describe('refuseOnSegment', () => {
  it('refuses the segment\'s network and broadcast addresses as PublicIP', () => {
    const seg = parseCidr('192.168.77.11/24')!
    const r = refuseOnSegment([lease(1, '192.168.77.0'), lease(2, '192.168.77.255'), lease(3)], seg, P)
    expect(r.leases.map((l) => l.key)).toEqual(['10.77.3.0-24'])
    expect(r.warnings).toEqual([
      `ignoring lease "${P}10.77.1.0-24": its PublicIP 192.168.77.0 is the network address of this node's segment 192.168.77.0/24`,
      `ignoring lease "${P}10.77.2.0-24": its PublicIP 192.168.77.255 is the broadcast address of this node's segment 192.168.77.0/24`,
    ])
  })
})

describe('cluster config bounds, host conflicts and pin', () => {
  const cfg = (network: string, len = 24) => parseClusterConfig({ Network: network, SubnetLen: len })
  it.each([
    ['0.0.0.0/0', 8, /wider than \/8.*overlaps the reserved range 0\.0\.0\.0\/8/],
    ['127.0.0.0/16', 24, /reserved range 127\.0\.0\.0\/8/],
    ['169.252.0.0/14', 16, /reserved range 169\.254\.0\.0\/16/],
    ['224.0.0.0/8', 16, /reserved range 224\.0\.0\.0\/4/],
    ['240.0.0.0/8', 16, /reserved range 240\.0\.0\.0\/4/],
    ['8.0.0.0/7', 16, /wider than \/8/],
  ])('refuses %s', (network, len, why) => {
    expect(configBoundsProblems(cfg(network, len)).join('; ')).toMatch(why)
  })

  it('accepts the usual private ranges', () => {
    for (const n of ['10.0.0.0/8', '10.244.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10']) expect(configBoundsProblems(cfg(n, n.endsWith('/8') ? 16 : 24))).toEqual([])
  })

  it('refuses a Network holding the host\'s address, a route that is not ours or an etcd endpoint', () => {
    const host = { addresses: ['192.168.77.11/24', '127.0.0.1/8'], foreignRoutes: ['default', '192.168.77.0/24', '10.9.0.0/16', '172.20.1.1'], etcdHosts: ['10.50.0.2', 'etcd.example'] }
    expect(configHostProblems(cfg('10.77.0.0/16'), host)).toEqual([])
    expect(configHostProblems(cfg('192.168.0.0/16'), host)).toEqual([
      'Network 192.168.0.0/16 contains this host\'s address 192.168.77.11/24',
      'Network 192.168.0.0/16 overlaps this host\'s route to 192.168.77.0/24, which is not the agent\'s',
    ])
    expect(configHostProblems(cfg('10.0.0.0/8', 16), host)).toEqual([
      'Network 10.0.0.0/8 overlaps this host\'s route to 10.9.0.0/16, which is not the agent\'s',
      'Network 10.0.0.0/8 contains the etcd endpoint 10.50.0.2',
    ])
    expect(configHostProblems(cfg('172.20.0.0/16'), host)).toEqual(['Network 172.20.0.0/16 overlaps this host\'s route to 172.20.1.1, which is not the agent\'s'])
  })

  it('a config differing from the pinned one (or from the state file\'s Network) is a mismatch', () => {
    const a = cfg('10.77.0.0/16')
    expect(pinMismatch(a, undefined, undefined)).toBeUndefined()
    expect(pinMismatch(a, configText(a), '10.77.0.0/16')).toBeUndefined()
    expect(pinMismatch(a, configText(cfg('10.77.0.0/16', 25)), undefined)).toMatch(/differs from the one this node joined with .*"SubnetLen":25/)
    expect(pinMismatch(a, undefined, '10.88.0.0/16')).toMatch(/Network in etcd \(10\.77\.0\.0\/16\) differs from the one this node joined with \(10\.88\.0\.0\/16\)/)
  })
})

describe('reconcile: a route that is not ours', () => {
  it('is never replaced: the planned route to its destination is skipped with a warning', () => {
    const want = { routes: [{ dst: '192.168.77.0/24', gw: '192.168.77.20', dev: 'eth0', onlink: false }, { dst: '10.77.2.0/24', gw: '192.168.77.12', dev: 'eth0', onlink: false }], neighbours: [], fdb: [], warnings: [] }
    const changes = reconcile(want, { routes: [{ dst: '192.168.77.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' }], links: [], neighbours: [], fdb: [] })
    expect(changes.ip).toEqual([{ op: 'route-replace', route: { dst: '10.77.2.0/24', gw: '192.168.77.12', dev: 'eth0', onlink: false, proto: 77 } }])
    expect(changes.warnings).toEqual(['skipping the route to 192.168.77.0/24: a route that is not the agent\'s (not proto 77) holds that destination'])
  })
})

describe('bounded reading', () => {
  it('decodeKv cuts a value over the limit without decoding it whole', () => {
    const big = Buffer.alloc(MAX_VALUE_BYTES + 1, 'x').toString('base64')
    const kv = decodeKv({ key: Buffer.from('/k').toString('base64'), value: big })
    expect(kv.oversize).toBe(MAX_VALUE_BYTES + 1)
    expect(kv.value.length).toBeLessThanOrEqual(64)
    expect(decodeKv({ key: '', value: Buffer.alloc(MAX_VALUE_BYTES, 'x').toString('base64') }).oversize).toBeUndefined()
  })

  it('JsonStreamSplitter scans each chunk once (2 MB in 16 KiB chunks fast) and caps an unfinished message', () => {
    const msg = JSON.stringify({ result: { events: [{ kv: { value: 'x'.repeat(2 * 1024 * 1024) } }] } })
    const s = new JsonStreamSplitter()
    const t = performance.now()
    const out: unknown[] = []
    for (let i = 0; i < msg.length; i += 16_384) out.push(...s.push(msg.slice(i, i + 16_384)))
    expect(out).toHaveLength(1)
    expect(performance.now() - t).toBeLessThan(200)
    const capped = new JsonStreamSplitter(1_000)
    expect(capped.push('{"a":"')).toEqual([])
    expect(() => capped.push('y'.repeat(2_000))).toThrow(EtcdTooLargeError)
    // A long string is cut while it streams in (never held whole), keeping its length for decodeKv.
    const cutting = new JsonStreamSplitter(1_000_000, 16)
    const big = Buffer.alloc(30_000, 'v').toString('base64')
    const parts = [`{"kv":{"key":"L2s=","value":"${big.slice(0, 100)}`, big.slice(100, 20_000), `${big.slice(20_000)}"}}`]
    const got = parts.flatMap((p) => cutting.push(p)) as Array<{ kv: { value: string } }>
    expect(got[0]!.kv.value).toBe(`${big.slice(0, 16)}!${big.length}`)
    expect(decodeKv(got[0]!.kv)).toMatchObject({ key: '/k', oversize: 30_000 })
    const two = new JsonStreamSplitter()
    expect(two.push('{"a":1}\n{"b":')).toEqual([{ a: 1 }])
    expect(two.push('"}"}\n')).toEqual([{ b: '}' }])
    expect(two.rest).toBe('')
  })
})

describe('logging at a bounded rate', () => {
  it('a retry logs the first failure, each change of reason, a reminder every interval, and the recovery', () => {
    const lines: string[] = []
    let now = 0
    const r = retryReporter({ warn: (m) => lines.push(`W ${m}`), info: (m) => lines.push(`I ${m}`) }, 'etcd', { everyMs: 10_000, now: () => now })
    for (let i = 0; i < 30; i++) {
      r.failed(i < 20 ? 'aborted (connecting (TCP))' : 'connection refused')
      now += 1_000
    }
    r.succeeded()
    expect(lines).toEqual([
      'W waiting for etcd: aborted (connecting (TCP))',
      'W still waiting for etcd (attempt 11, 10.0 s): aborted (connecting (TCP))',
      'W waiting for etcd (attempt 21, 20.0 s): connection refused',
      'I got etcd after 30.0 s (31 attempts)',
    ])
  })

  it('a warning is logged once per key and change, and at most N new ones per pass', () => {
    const lines: string[] = []
    const w = changedWarnings({ warn: (m) => lines.push(m) }, 3)
    const pass = (msgs: string[]) => { w.begin(); for (const m of msgs) w.warn(m); w.end() }
    for (let i = 0; i < 20; i++) pass(['a', 'b'])
    pass(['a', 'b2'])
    pass(['a', 'b2', 'c', 'd', 'e', 'f'])
    expect(lines).toEqual(['a', 'b', 'b2', 'c', 'd', 'e', '... and 1 more new warning(s) this pass (tscni node status lists the peers left out)'])
  })
})
