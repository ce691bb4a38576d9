// system/conntrack-netlink.ts: the ctnetlink dump request, and the delete requests built from dumped entries
// (UDP to one of the ports only; the original tuple and zone passed back as the kernel gave them).
import { describe, expect, it } from 'vitest'
import { conntrackDumpRequest, udpDeleteRequests } from '../../../src/system/conntrack-netlink.ts'
import { bytes, decodeAttrs, encodeAttrs, nest, u8, type NlMessage } from '../../../src/system/netlink-codec.ts'

const be16 = (v: number) => Buffer.from([v >> 8, v & 0xff])
// An IPCTNL_MSG_CT_NEW entry as a dump returns it: nfgenmsg, CTA_TUPLE_ORIG {IP {src, dst}, PROTO {num, sport, dport}}, CTA_ZONE.
function entry(proto: number, dport: number, zone?: number): NlMessage {
  const tuple = nest(1, [nest(1, [bytes(1, Buffer.from([10, 0, 0, 1])), bytes(2, Buffer.from([10, 0, 0, 2]))]), nest(2, [u8(1, proto), bytes(2, be16(40000)), bytes(3, be16(dport))])])
  const body = Buffer.concat([Buffer.from([2, 0, 0, 0]), encodeAttrs([tuple, bytes(2, Buffer.from([0, 0, 0, 1])), ...(zone === undefined ? [] : [bytes(18, be16(zone))])])])
  return { type: (1 << 8) | 0, flags: 2, seq: 1, body }
}

describe('ctnetlink', () => {
  it('dumps one family\'s table', () => {
    const req = conntrackDumpRequest(6)
    expect(req.type).toBe(0x101)
    expect(req.flags & 0x300).toBe(0x300)
    expect([...req.body]).toEqual([10, 0, 0, 0])
  })

  it('deletes UDP entries to the given ports only, naming each by its original tuple and zone', () => {
    const dump = [entry(17, 5300), entry(6, 5300), entry(17, 5301), entry(17, 5353, 7), { type: 3, flags: 2, seq: 1, body: Buffer.alloc(4) }]
    const dels = udpDeleteRequests(dump, 4, new Set([5300, 5353]))
    expect(dels.map((d) => d.port)).toEqual([5300, 5353])
    for (const [i, d] of dels.entries()) {
      expect(d.request.type).toBe(0x102)
      expect(d.request.flags).toBe(0x5)
      const attrs = decodeAttrs(d.request.body, 4)
      const source = decodeAttrs(dump[i === 0 ? 0 : 3]!.body, 4)
      expect(attrs.get(1)).toEqual(source.get(1))
      expect(attrs.has(2)).toBe(false) // nothing but the tuple and the zone
      expect(attrs.get(18)).toEqual(source.get(18))
    }
    expect(decodeAttrs(dels[1]!.request.body, 4).get(18)!.readUInt16BE(0)).toBe(7)
  })
})
