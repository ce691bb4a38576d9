// The ip port over rtnetlink: batches, link and route reads without child processes, through sockets the native
// addon opens inside a namespace; container sysctls through files it opens there. What it does not encode (route
// lookups without a hint, bridge VLANs, neighbours, FDB entries, the node agent's VXLAN ops) goes to the iproute2
// implementation it wraps.
import { closeSync, constants, openSync, read, readSync, write, writeSync } from 'node:fs'
import { SystemError } from './errors.ts'
import type { RunTiming } from './exec.ts'
import { reasonFromErrno } from './failure.ts'
import type { IpFailure, IpOp, IpTool } from './ip.ts'
import { failedBatchLine, isExists, isNoDevice, renderIpOp } from './ip.ts'
import type { IpLink, IpRoute } from './ip-json.ts'
import type { Native } from './native.ts'
import { decodeMessages, encodeMessage, errnoName, errnoText, errorCode, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, type NlMessage } from './netlink-codec.ts'
import {
  addrRequest, bridgeAddRequest, decodeAddr, decodeLink, decodeRoute, getAddrRequest, getLinkRequest, getRouteRequest, linkDelRequest, linkSetRequest,
  portFlagsRequest, routeAddRequest, RTM_F_CLONED, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, vethAddRequest, type DecodedLink, type NlRequest,
} from './netlink-route.ts'
import { sysctlPath, type SysctlWrite } from './sysctl.ts'

const NETLINK_ROUTE = 0
const RECV_BUFFER = 64 * 1024

/** A failed netlink request: the errno the kernel answered with, and which op of a batch it was. */
export class NetlinkError extends SystemError {
  /** 0-based index of the failed op in its batch. */
  readonly index: number | undefined
  /** The kernel's errno: its name ("EEXIST") and number. */
  readonly errno: string
  readonly errnoNumber: number

  constructor(init: { what: string; errno: number; index?: number; cause?: unknown }) {
    const text = errnoText(init.errno)
    // The stderr reads as iproute2's would, so messages stay familiar; classification uses `errno`, not the text.
    super({ cmd: 'netlink', args: [init.what], exitCode: 2, reason: reasonFromErrno(init.errno), stderr: `RTNETLINK answers: ${text}`, message: `${init.what}: ${text}`, cause: init.cause })
    this.name = 'NetlinkError'
    this.index = init.index
    this.errno = errnoName(init.errno)
    this.errnoNumber = init.errno
  }
}

/** One netlink socket in one namespace, used synchronously: the kernel answers these requests before send returns. */
export class NetlinkSocket {
  private seq = 1
  private readonly buf = Buffer.alloc(RECV_BUFFER)
  private readonly fd: number
  constructor(fd: number) {
    this.fd = fd
  }

  /** Sends one request and returns the data messages of its reply; a non-zero NLMSG_ERROR throws its errno. */
  request(req: NlRequest, what: string): NlMessage[] {
    const { seq, message } = this.frame(req)
    writeSync(this.fd, message)
    const out: NlMessage[] = []
    while (!this.take(readSync(this.fd, this.buf, 0, this.buf.length, null), seq, out, what));
    return out
  }

  /**
   * The same on libuv's thread pool: the kernel carries a request out inside the sending write(2), so for one it
   * takes long over (deleting a veth waits for RCU grace periods, 10-30 ms) both the write and the read run there,
   * and the event loop meanwhile runs the rest of the verb, such as the firewall tools a DEL starts beside it.
   */
  async requestAsync(req: NlRequest, what: string): Promise<NlMessage[]> {
    const { seq, message } = this.frame(req)
    await new Promise<void>((resolve, reject) => write(this.fd, message, 0, message.length, null, (err) => (err ? reject(err) : resolve())))
    const out: NlMessage[] = []
    for (;;) {
      const n = await new Promise<number>((resolve, reject) => read(this.fd, this.buf, 0, this.buf.length, null, (err, got) => (err ? reject(err) : resolve(got))))
      if (this.take(n, seq, out, what)) return out
    }
  }

  // The request as one message under the socket's next sequence number.
  private frame(req: NlRequest): { seq: number; message: Buffer } {
    const seq = this.seq++
    return { seq, message: encodeMessage(req.type, req.flags, seq, req.body) }
  }

  // Adds the data messages of one datagram to `out`; true when the reply to `seq` is complete.
  private take(n: number, seq: number, out: NlMessage[], what: string): boolean {
    // A copy: the receive buffer is reused by the next read, and dump replies span several.
    for (const m of decodeMessages(Buffer.from(this.buf.subarray(0, n)))) {
      if (m.seq !== seq) continue // a late reply to an earlier request
      if (m.type === NLMSG_ERROR) {
        const errno = errorCode(m.body)
        if (errno !== 0) throw new NetlinkError({ what, errno })
        return true
      }
      if (m.type === NLMSG_DONE) return true
      out.push(m)
      // Dump replies are NLM_F_MULTI parts ending in NLMSG_DONE; anything else is a whole, single answer.
      if ((m.flags & NLM_F_MULTI) === 0) return true
    }
    return false
  }

  close(): void {
    closeSync(this.fd)
  }
}

/**
 * The ip port: netlink for batches and link and route reads, `tools` for the rest. `onRun` hears of each batch as
 * of a command ("netlink", its ops as ip -batch lines), so debug logs list the kernel work on either path.
 */
export function createNetlinkIp(native: Native, tools: IpTool, timing: RunTiming = {}): IpTool {
  const now = timing.now ?? Date.now
  const open = (netns: string | undefined): NetlinkSocket => {
    try {
      return new NetlinkSocket(native.netlinkSocket(netns ?? null, NETLINK_ROUTE))
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new SystemError({ cmd: 'netlink', args: [netns ?? ''], reason: reasonFromErrno(code ?? ''), message: `cannot open a netlink socket${netns ? ` in ${netns}` : ''}: ${(err as Error).message}`, cause: err })
    }
  }
  return {
    async batch(ops, options = {}) {
      // The node agent's ops (VXLAN devices, tagged routes, neighbours, MTU changes) have no netlink encoding yet.
      if (ops.some(needsTools)) return tools.batch(ops, options)
      if (ops.length === 0 && !options.sysctls?.length) return
      const started = now()
      if (options.sysctls?.length) writeSysctls(native, options.netns, options.sysctls)
      const sock = open(options.netns)
      try {
        await runOps(sock, ops)
      } finally {
        sock.close()
        timing.onRun?.('netlink', [`${options.netns ? `netns ${options.netns}: ` : ''}${ops.map(renderIpOp).join('; ')}`], now() - started)
      }
    },
    vlans: (ops) => tools.vlans(ops),
    fdb: (ops) => tools.fdb(ops),
    neighbours: (dev) => tools.neighbours(dev),
    fdbEntries: (dev) => tools.fdbEntries(dev),
    async batchThenShow(ops, dev, options = {}) {
      const sock = open(options.netns)
      try {
        await runOps(sock, ops)
        return readLinks(sock, dev)
      } finally {
        sock.close()
      }
    },
    async inspect(dev, netns, sysctlKeys) {
      const sysctls = sysctlKeys.map((key) => readSysctl(native, netns, key))
      const sock = open(netns)
      try {
        return { links: readLinks(sock, dev), sysctls }
      } finally {
        sock.close()
      }
    },
    async links(options = {}) {
      const sock = open(options.netns)
      try {
        return readLinks(sock, options.dev)
      } finally {
        sock.close()
      }
    },
    async routes(options = {}) {
      const sock = open(options.netns)
      try {
        return readRoutes(sock)
      } finally {
        sock.close()
      }
    },
    routeDev: (address, hint) => tools.routeDev(address, hint),
    failure(err): IpFailure {
      if (err instanceof NetlinkError) return { index: err.index, exists: err.reason === 'exists', noDevice: err.reason === 'no-device' }
      const line = failedBatchLine(err)
      return { index: line === undefined ? undefined : line - 1, exists: isExists(err), noDevice: isNoDevice(err) }
    },
  }
}

// A sysctl as the namespace sees it, trailing newline removed as the shell's $(cat) does; undefined when absent.
function readSysctl(native: Native, netns: string, key: string): string | undefined {
  let fd: number
  try {
    fd = native.openInNetns(netns, sysctlPath(key), constants.O_RDONLY)
  } catch {
    return undefined
  }
  try {
    const buf = Buffer.alloc(4096)
    const n = readSync(fd, buf, 0, buf.length, null)
    return buf.subarray(0, n).toString('utf8').replace(/\n+$/, '')
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

// Sysctls first, as the tool path's shell fragment does; a required write that fails stops the batch.
function writeSysctls(native: Native, netns: string | undefined, writes: readonly SysctlWrite[]): void {
  for (const w of writes) {
    const path = sysctlPath(w.key)
    try {
      const fd = native.openInNetns(netns ?? null, path, constants.O_WRONLY)
      try {
        writeSync(fd, w.value)
      } finally {
        closeSync(fd)
      }
    } catch (err) {
      if (w.optional) continue
      const code = (err as { code?: string }).code
      throw new SystemError({ cmd: 'sysctl', args: [path, w.value], reason: reasonFromErrno(code ?? ''), message: `cannot write ${w.value} to ${path}: ${(err as Error).message}`, cause: err })
    }
  }
}

async function runOps(sock: NetlinkSocket, ops: readonly IpOp[]): Promise<void> {
  const indexes = new Map<string, number>()
  const indexOf = (name: string, what: string): number => {
    const known = indexes.get(name)
    if (known !== undefined) return known
    const [reply] = sock.request(getLinkRequest(name), what)
    if (!reply) throw new NetlinkError({ what, errno: 19 })
    const index = decodeLink(reply.body).ifindex
    indexes.set(name, index)
    return index
  }
  for (const [i, op] of ops.entries()) {
    const what = `ip ${renderIpOp(op)}`
    try {
      switch (op.op) {
        case 'bridge-add':
          sock.request(bridgeAddRequest(op), what)
          continue
        case 'veth-add': {
          const fds: number[] = []
          const fdOf = (path: string | undefined): number | undefined => (path ? (fds.push(openSync(path, 'r')), fds[fds.length - 1]) : undefined)
          try {
            const [a, b] = [op.a, op.b].map((e) => ({ name: e.name, ...(e.mac ? { mac: e.mac } : {}), ...(e.mtu ? { mtu: e.mtu } : {}), ...(e.netns ? { nsFd: fdOf(e.netns)! } : {}) }))
            sock.request(vethAddRequest(a!, b!), what)
          } finally {
            for (const fd of fds) closeSync(fd)
          }
          continue
        }
        case 'link-set':
          sock.request(linkSetRequest(indexOf(op.name, what), {
            ...(op.master ? { masterIndex: indexOf(op.master, what) } : {}), ...(op.address ? { mac: op.address } : {}),
            ...(op.promisc !== undefined ? { promisc: op.promisc } : {}), ...(op.allmulti !== undefined ? { allmulti: op.allmulti } : {}),
            ...(op.txqlen !== undefined ? { txqlen: op.txqlen } : {}), ...(op.up !== undefined ? { up: op.up } : {}),
          }), what)
          continue
        case 'port-flags':
          sock.request(portFlagsRequest(indexOf(op.name, what), op), what)
          continue
        case 'addr-add':
        case 'addr-del':
          sock.request(addrRequest(op.op === 'addr-add' ? 'add' : 'del', op.cidr, indexOf(op.dev, what), op.nodad), what)
          continue
        case 'route-add':
          sock.request(routeAddRequest(op.route, indexOf(op.route.dev, what)), what)
          continue
        case 'link-del':
          await sock.requestAsync(linkDelRequest(indexOf(op.name, what)), what)
          indexes.delete(op.name)
          continue
        case 'vxlan-add':
        case 'route-replace':
        case 'route-del':
        case 'neigh-replace':
        case 'neigh-del':
          throw new Error(`ip op ${op.op} goes through iproute2 (needsTools), not netlink`)
        default: {
          const never: never = op
          throw new Error(`unknown ip op ${JSON.stringify(never)}`)
        }
      }
    } catch (err) {
      if (err instanceof NetlinkError) throw new NetlinkError({ what, errno: err.errnoNumber, index: i, cause: err.cause })
      throw err
    }
  }
}

function readLinks(sock: NetlinkSocket, dev: string | undefined): IpLink[] {
  let decoded: DecodedLink[]
  try {
    decoded = sock.request(getLinkRequest(dev), `ip link show${dev ? ` dev ${dev}` : ''}`).filter((m) => m.type === RTM_NEWLINK).map((m) => decodeLink(m.body))
  } catch (err) {
    if (dev && err instanceof NetlinkError && err.reason === 'no-device') return []
    throw err
  }
  const names = new Map(decoded.map((l) => [l.ifindex, l.ifname]))
  const masterName = (index: number): string | undefined => {
    if (!names.has(index)) {
      const [m] = sock.request({ type: RTM_GETLINK, flags: NLM_F_REQUEST, body: indexBody(index) }, `ip link show index ${index}`)
      if (m) names.set(index, decodeLink(m.body).ifname)
    }
    return names.get(index)
  }
  const wanted = new Set(decoded.map((l) => l.ifindex))
  const addrs = new Map<number, IpLink['addrs'][number][]>()
  for (const m of sock.request(getAddrRequest(), 'ip addr show')) {
    if (m.type !== RTM_NEWADDR) continue
    const { index, addr } = decodeAddr(m.body)
    if (!wanted.has(index)) continue
    addrs.set(index, [...(addrs.get(index) ?? []), addr])
  }
  return decoded.map(({ masterIndex, ...l }) => {
    const master = masterIndex === undefined ? undefined : masterName(masterIndex)
    return { ...l, ...(master ? { master } : {}), addrs: addrs.get(l.ifindex) ?? [] }
  })
}

// Every route of every table, as `ip -j route show table all` lists them (cached clones left out, as it does).
function readRoutes(sock: NetlinkSocket): IpRoute[] {
  const names = new Map(sock.request(getLinkRequest(), 'ip link show').filter((m) => m.type === RTM_NEWLINK).map((m) => {
    const l = decodeLink(m.body)
    return [l.ifindex, l.ifname] as const
  }))
  return sock.request(getRouteRequest(), 'ip route show table all')
    .filter((m) => m.type === RTM_NEWROUTE && (m.body.readUInt32LE(8) & RTM_F_CLONED) === 0)
    .map((m) => decodeRoute(m.body, names))
}

function indexBody(index: number): Buffer {
  const b = Buffer.alloc(16)
  b.writeInt32LE(index, 4)
  return b
}

/** Ops only the iproute2 path encodes; a batch holding one goes to the tools whole (one process, one order). */
function needsTools(op: IpOp): boolean {
  return ['vxlan-add', 'route-replace', 'route-del', 'neigh-replace', 'neigh-del'].includes(op.op) || (op.op === 'link-set' && op.mtu !== undefined)
}
