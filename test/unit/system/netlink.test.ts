// system/netlink-codec.ts and netlink-route.ts: requests as bytes the kernel expects, and recorded kernel replies
// (test/fixtures/netlink/replies.json) decoded into the links and addresses the roles read.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import { decodeAttrs, decodeMessages, encodeAttrs, encodeMessage, errnoName, errorCode, NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, str, u32, nest, attrString } from '../../../src/system/netlink-codec.ts'
import {
  addrRequest, bridgeAddRequest, cidrBytes, decodeAddr, decodeLink, formatIpBytes, ipBytes, linkSetRequest, portFlagsRequest, routeAddRequest, RTM_NEWADDR, RTM_NEWLINK, vethAddRequest,
} from '../../../src/system/netlink-route.ts'

const REPLIES = JSON.parse(readFileSync(new URL('../../fixtures/netlink/replies.json', import.meta.url), 'utf8')) as Record<string, string[]>
const datagrams = (key: string) => REPLIES[key]!.flatMap((hex) => decodeMessages(Buffer.from(hex, 'hex')))

describe('netlink codec', () => {
  it('pads attributes to 4 bytes, marks nested ones, and fills in the message length', () => {
    const attrs = encodeAttrs([str(3, 'br0'), nest(18, [str(1, 'bridge')])])
    // "br0\0" fits 4 bytes: 8 in all; the nest holds "bridge\0" (7 + 4 header = 11, padded 12) behind its own header.
    expect(attrs.length).toBe(8 + 4 + 12)
    expect(attrs.readUInt16LE(0)).toBe(8)
    expect(attrs.readUInt16LE(10)).toBe(18 | NLA_F_NESTED)
    const msg = encodeMessage(16, 0x605, 7, attrs)
    expect(msg.readUInt32LE(0)).toBe(16 + attrs.length)
    expect([msg.readUInt16LE(4), msg.readUInt16LE(6), msg.readUInt32LE(8)]).toEqual([16, 0x605, 7])
    const back = decodeAttrs(attrs)
    expect(attrString(back.get(3))).toBe('br0')
    expect(attrString(decodeAttrs(back.get(18)!).get(1))).toBe('bridge')
  })

  it('reads the kernel errno out of an NLMSG_ERROR: ENODEV for a missing link', () => {
    const [m] = datagrams('linkMissing')
    expect(m!.type).toBe(NLMSG_ERROR)
    expect(m!.seq).toBe(3)
    expect(errnoName(errorCode(m!.body))).toBe('ENODEV')
  })

  it('refuses a datagram whose message length runs past its end', () => {
    const bad = encodeMessage(16, 0, 1, Buffer.alloc(8))
    bad.writeUInt32LE(200, 0)
    expect(() => decodeMessages(bad)).toThrow(/malformed message length 200/)
  })
})

describe('recorded replies', () => {
  it('decodes a bridge: name, MAC, UP flag, kind, no master', () => {
    const [m] = datagrams('linkBr9')
    expect(m!.type).toBe(RTM_NEWLINK)
    const br = decodeLink(m!.body)
    expect(br).toMatchObject({ ifname: 'br9', address: '0a:58:0a:16:00:01', kind: 'bridge', mtu: 1500, vlanFiltering: false })
    // This kernel was built without bridge VLAN filtering: no IFLA_BR_VLAN_DEFAULT_PVID, as ip -j omits it too.
    expect(br.vlanDefaultPvid).toBeUndefined()
    expect(br.flags).toContain('UP')
    expect(br.masterIndex).toBeUndefined()
  })

  it('decodes a bridge port: veth kind, bridge slave kind, hairpin, master index', () => {
    const br = decodeLink(datagrams('linkBr9')[0]!.body)
    const veth = decodeLink(datagrams('linkVeth9')[0]!.body)
    expect(veth).toMatchObject({ ifname: 'veth9', address: '0a:58:0a:16:00:02', kind: 'veth', slaveKind: 'bridge', hairpin: true, isolated: false, masterIndex: br.ifindex })
    // Its peer (eth0) is in the same namespace: like ip -j, no link_index (that is only for a peer elsewhere).
    expect(veth.linkIndex).toBeUndefined()
  })

  it('decodes the address dump: both families with prefix, scope and DAD state, ending in NLMSG_DONE', () => {
    const msgs = datagrams('addrDump')
    expect(msgs[msgs.length - 1]!.type).toBe(NLMSG_DONE)
    const addrs = msgs.filter((m) => m.type === RTM_NEWADDR).map((m) => decodeAddr(m.body).addr)
    expect(addrs).toContainEqual({ family: 'inet', local: '10.22.0.1', prefixlen: 16, scope: 'global', tentative: false, dadfailed: false })
    expect(addrs).toContainEqual({ family: 'inet6', local: 'fd22::1', prefixlen: 64, scope: 'global', tentative: false, dadfailed: false })
  })
})

describe('requests', () => {
  const attrsOf = (body: Buffer, headerLen: number) => decodeAttrs(body, headerLen)

  it('bridge add: create-exclusive with name, MAC, MTU and kind', () => {
    const req = bridgeAddRequest({ name: 'cni0', mac: '0a:58:0a:16:00:01', mtu: 1400 })
    expect(req.flags).toBe(0x1 | 0x4 | 0x400 | 0x200)
    const a = attrsOf(req.body, 16)
    expect(attrString(a.get(3))).toBe('cni0')
    expect([...a.get(1)!]).toEqual([0x0a, 0x58, 0x0a, 0x16, 0, 1])
    expect(a.get(4)!.readUInt32LE(0)).toBe(1400)
    expect(attrString(decodeAttrs(a.get(18)!).get(1))).toBe('bridge')
  })

  it('veth add: the peer is a nested ifinfomsg with its name and namespace descriptor', () => {
    const req = vethAddRequest({ name: 'veth1' }, { name: 'eth0', mac: '0a:00:00:00:00:02', nsFd: 42 })
    const info = decodeAttrs(attrsOf(req.body, 16).get(18)!)
    expect(attrString(info.get(1))).toBe('veth')
    const peer = decodeAttrs(info.get(2)!).get(1)!
    const peerAttrs = decodeAttrs(peer, 16)
    expect(attrString(peerAttrs.get(3))).toBe('eth0')
    expect(peerAttrs.get(28)!.readUInt32LE(0)).toBe(42)
  })

  it('link set: flags and change mask carry only what is asked, master by index', () => {
    const req = linkSetRequest(7, { masterIndex: 3, up: true })
    expect(req.body.readInt32LE(4)).toBe(7)
    expect(req.body.readUInt32LE(8)).toBe(1)
    expect(req.body.readUInt32LE(12)).toBe(1)
    expect(attrsOf(req.body, 16).get(10)!.readUInt32LE(0)).toBe(3)
    // down: IFF_UP in the change mask, cleared in the flags (the loopback role's DEL); nothing asked, nothing changed
    const down = linkSetRequest(1, { up: false })
    expect([down.body.readUInt32LE(8), down.body.readUInt32LE(12)]).toEqual([0, 1])
    const masterOnly = linkSetRequest(1, { masterIndex: 2 })
    expect([masterOnly.body.readUInt32LE(8), masterOnly.body.readUInt32LE(12)]).toEqual([0, 0])
    const port = portFlagsRequest(7, { isolated: true })
    const slave = decodeAttrs(decodeAttrs(attrsOf(port.body, 16).get(18)!).get(5)!)
    expect([...slave.keys()]).toEqual([33])
  })

  it('addr add: family, prefix, nodad flag, local and address', () => {
    const req = addrRequest('add', 'fd00::5/64', 9, true)
    expect([req.body[0], req.body[1], req.body[2], req.body.readUInt32LE(4)]).toEqual([10, 64, 2, 9])
    expect(formatIpBytes(attrsOf(req.body, 8).get(2)!)).toBe('fd00::5')
  })

  it('route prepend: create without exclusive, scope link without gateway, universe with one', () => {
    const direct = routeAddRequest({ dst: '10.1.0.0/16', dev: 'eth0' }, 4)
    expect(direct.flags & 0x200).toBe(0)
    expect([direct.body[0], direct.body[1], direct.body[4], direct.body[6]]).toEqual([2, 16, 254, 253])
    const viaGw = routeAddRequest({ dst: '0.0.0.0/0', gw: '10.1.0.1', dev: 'eth0', metric: 100, table: 1000 }, 4)
    const a = attrsOf(viaGw.body, 12)
    expect(viaGw.body[6]).toBe(0)
    expect(a.has(1)).toBe(false) // a default route carries no RTA_DST
    expect(formatIpBytes(a.get(5)!)).toBe('10.1.0.1')
    expect([a.get(4)!.readUInt32LE(0), a.get(6)!.readUInt32LE(0), a.get(15)!.readUInt32LE(0)]).toEqual([4, 100, 1000])
    expect(() => routeAddRequest({ dst: '::/0', gw: '10.1.0.1', dev: 'eth0' }, 4)).toThrow(/not of the family/)
  })

  it('addresses in and out: IPv4, compressed and embedded-IPv4 IPv6', () => {
    expect(formatIpBytes(ipBytes('fd00:0:0:1::5').bytes)).toBe('fd00:0:0:1::5')
    expect(formatIpBytes(ipBytes('::ffff:10.0.0.1').bytes)).toBe('::ffff:a00:1')
    expect(formatIpBytes(ipBytes('2001:db8::').bytes)).toBe('2001:db8::')
    expect(cidrBytes('10.0.0.0/8')).toMatchObject({ family: 2, prefix: 8 })
    expect(() => cidrBytes('10.0.0.0/33')).toThrow(/invalid prefix/)
    expect(u32(1, 5).type).toBe(1)
  })

  // ipBytes parses without node:net (its load costs start-up); it must accept exactly what isIP accepts (less
  // zone ids, which no kernel address carries) and give the bytes the address means.
  it('accepts the same addresses as node:net isIP, with the same bytes', () => {
    const inputs = [
      '0.0.0.0', '10.0.0.1', '255.255.255.255', '256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.4 ', '', 'a.b.c.d', '1..2.3',
      '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9',
      '1::2::3', ':::', '12345::', 'g::1', '::ffff:10.0.0.1', '::10.0.0.1', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::ffff:256.0.0.1',
      'fd00:0:0:1::5', 'FD00::A', '2001:db8::', ':1', '1:', '::1.2.3', '1.2.3.4::',
    ]
    for (const ip of inputs) {
      let parsed: { family: number; bytes: Buffer } | undefined
      try {
        parsed = ipBytes(ip)
      } catch {
        parsed = undefined
      }
      expect([ip, parsed ? (parsed.family === 2 ? 4 : 6) : 0]).toEqual([ip, isIP(ip)])
      if (parsed) expect([ip, formatIpBytes(parsed.bytes)]).toEqual([ip, parsed.family === 2 ? ip : new URL(`http://[${ip}]/`).hostname.slice(1, -1)])
    }
  })
})
