// nftables host-port dispatch per port: owners of one (protocol, port) jump from one bucket in ADD order, so the first
// ADD wins as with iptables (audit L8); DEL lists only the recorded ports' buckets, then the owner-hash bucket of owners
// added before, then the whole table when a jump is elsewhere.
import { describe, expect, it } from 'vitest'
import type { PortmapIntent } from '../../../src/firewall/model.ts'
import { bucketChain, intentBuckets, ownerChain, portBucket, renderOwner } from '../../../src/firewall/nft-portmap.ts'
import { createFirewall } from '../../../src/firewall/select.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { createFakeSystem } from '../../support/fake-system.ts'

const intent = (containerId: string, ports: number[]): PortmapIntent => ({
  kind: 'portmap', owner: { network: 'net', containerId, ifname: 'eth0' }, containerV4: parseCidr('10.1.0.5/16')!,
  mappings: ports.map((hostPort) => ({ hostPort, containerPort: 80, protocol: 'tcp' as const })), snat: true, masqAll: false, markMasqBit: 13,
})
const listing = (chain: string, target: string, handle = 7) => JSON.stringify({ nftables: [
  { rule: { family: 'inet', table: 'tscni_hostport', chain, handle, comment: 'x', expr: [{ jump: { target } }] } },
] })

describe('per-port dispatch buckets', () => {
  it('two owners of one host port jump from the same bucket, whatever their own hashes', () => {
    const a = intent('first', [8090])
    const b = intent('second', [8090, 9000])
    expect(bucketChain(a.owner)).not.toBe(bucketChain(b.owner))
    const jumpOf = (i: PortmapIntent) => renderOwner(i, false).filter((l) => l.includes('tcp . 8090'))
    expect(jumpOf(a)).toHaveLength(1)
    expect(jumpOf(a)[0]).toMatch(new RegExp(`^add rule inet tscni_hostport ${portBucket('tcp', 8090)} `))
    expect(jumpOf(b)[0]).toMatch(new RegExp(`^add rule inet tscni_hostport ${portBucket('tcp', 8090)} `))
    // Each jump's set holds only the pairs of its own bucket.
    expect(intentBuckets(b).flatMap((x) => x.pairs).sort()).toEqual(['tcp . 8090', 'tcp . 9000'])
  })

  it('DEL with a record lists only its ports\' buckets', async () => {
    const sys = createFakeSystem()
    const a = intent('first', [8090])
    sys.on('netfilter.nftList', (what: string[]) => (what[3] === portBucket('tcp', 8090) ? listing(what[3]!, ownerChain(a.owner)) : undefined))
    await (await createFirewall(sys, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).select('nftables')).remove('portmap', a.owner, [a])
    expect(sys.callsOf('netfilter.nftList').map((c) => (c.args[0] as string[])[3])).toEqual([portBucket('tcp', 8090)])
    expect(sys.callsOf('netfilter.nftApply')[0]!.args[0]).toMatch(new RegExp(`^delete rule inet tscni_hostport ${portBucket('tcp', 8090)} handle 7\n`))
  })

  it('DEL of an owner added before: its owner-hash bucket; nothing there: the chain alone; no table: nothing', async () => {
    const a = intent('first', [8090])
    const legacy = createFakeSystem()
    legacy.on('netfilter.nftList', (what: string[]) => (what[3] === bucketChain(a.owner) ? listing(what[3]!, ownerChain(a.owner), 9) : '{"nftables":[]}'))
    await (await createFirewall(legacy, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).select('nftables')).remove('portmap', a.owner, [a])
    expect(legacy.callsOf('netfilter.nftApply')[0]!.args[0]).toMatch(new RegExp(`^delete rule inet tscni_hostport ${bucketChain(a.owner)} handle 9\n`))
    const gone = createFakeSystem()
    gone.on('netfilter.nftList', () => '{"nftables":[]}')
    await (await createFirewall(gone, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).select('nftables')).remove('portmap', a.owner)
    expect(gone.callsOf('netfilter.nftApply')[0]!.args[0]).toBe(`add chain inet tscni_hostport ${ownerChain(a.owner)}\nflush chain inet tscni_hostport ${ownerChain(a.owner)}\ndelete chain inet tscni_hostport ${ownerChain(a.owner)}\n`)
    const none = createFakeSystem()
    await (await createFirewall(none, silentLogger, { lockPath: '/tmp/tscni-unit-fw.lock' }).select('nftables')).remove('portmap', a.owner)
    expect(none.callsOf('netfilter.nftApply')).toEqual([])
  })
})
