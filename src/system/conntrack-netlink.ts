// Deleting conntrack entries over ctnetlink (NETLINK_NETFILTER) in-process: a dump of one family's table and a
// delete per matching entry, what conntrack(8) -D does and the reference portmap does through its netlink library,
// without a conntrack process per port and family (~15-20 ms each). Pure message building and matching here; the
// socket comes from the native addon (netlink.ts).
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, attrList, decodeAttrs, padded, type NlMessage } from './netlink-codec.ts'
import type { NlRequest } from './netlink-route.ts'

/** The netlink protocol of nfnetlink (linux/netlink.h). */
export const NETLINK_NETFILTER = 12
const NFNL_SUBSYS_CTNETLINK = 1
const IPCTNL_MSG_CT_NEW = 0
const IPCTNL_MSG_CT_GET = 1
const IPCTNL_MSG_CT_DELETE = 2
const CTA_TUPLE_ORIG = 1
const CTA_ZONE = 18
const CTA_TUPLE_PROTO = 2
const CTA_PROTO_NUM = 1
const CTA_PROTO_DST_PORT = 3
const IPPROTO_UDP = 17
const AF_INET = 2
const AF_INET6 = 10

// struct nfgenmsg: family, version (NFNETLINK_V0), resource id (big-endian 0).
function nfgenmsg(family: 4 | 6): Buffer {
  return Buffer.from([family === 4 ? AF_INET : AF_INET6, 0, 0, 0])
}

/** IPCTNL_MSG_CT_GET dump of one family's conntrack table. */
export function conntrackDumpRequest(family: 4 | 6): NlRequest {
  return { type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, flags: NLM_F_REQUEST | NLM_F_DUMP, body: nfgenmsg(family) }
}

/**
 * The delete requests for the dumped entries whose original tuple is UDP to one of `ports` (conntrack -D -p udp
 * --orig-port-dst P): each names its entry by the original tuple and zone exactly as the dump gave them.
 */
export function udpDeleteRequests(dump: readonly NlMessage[], family: 4 | 6, ports: ReadonlySet<number>): Array<{ port: number; request: NlRequest }> {
  const out: Array<{ port: number; request: NlRequest }> = []
  for (const m of dump) {
    if (m.type !== ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) || m.body.length < 4) continue
    const attrs = attrList(m.body, 4)
    const orig = attrs.find((a) => a.type === CTA_TUPLE_ORIG)
    if (!orig) continue
    const proto = decodeAttrs(orig.payload).get(CTA_TUPLE_PROTO)
    if (!proto) continue
    const p = decodeAttrs(proto)
    const num = p.get(CTA_PROTO_NUM)
    const dport = p.get(CTA_PROTO_DST_PORT)
    if (!num || num[0] !== IPPROTO_UDP || !dport || dport.length < 2 || !ports.has(dport.readUInt16BE(0))) continue
    const zone = attrs.find((a) => a.type === CTA_ZONE)
    out.push({
      port: dport.readUInt16BE(0),
      request: {
        type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        body: Buffer.concat([nfgenmsg(family), padded(orig.raw), ...(zone ? [zone.raw] : [])]),
      },
    })
  }
  return out
}
