// Netlink wire format (pure): message headers, attributes (nested too), and the kernel's replies, including
// NLMSG_ERROR acknowledgements carrying an errno. Layouts from linux/netlink.h and rtnetlink(7); host byte order.

/** nlmsghdr: 16 bytes. */
export const NLMSG_HDRLEN = 16
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3

export const NLM_F_REQUEST = 0x1
export const NLM_F_MULTI = 0x2
export const NLM_F_ACK = 0x4
export const NLM_F_ROOT = 0x100
export const NLM_F_MATCH = 0x200
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
export const NLM_F_EXCL = 0x200
export const NLM_F_CREATE = 0x400

/** NLA_F_NESTED: set on attributes that hold attributes. */
export const NLA_F_NESTED = 0x8000

const align4 = (n: number): number => (n + 3) & ~3

/** One attribute to encode: its type and a payload, or nested attributes. */
export type Attr = { readonly type: number; readonly data: Uint8Array } | { readonly type: number; readonly nested: readonly Attr[] }

export const u8 = (type: number, v: number): Attr => ({ type, data: Uint8Array.of(v) })
export const u32 = (type: number, v: number): Attr => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v >>> 0)
  return { type, data: b }
}
/** A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND). */
export const str = (type: number, v: string): Attr => ({ type, data: Buffer.from(`${v}\0`, 'utf8') })
export const bytes = (type: number, v: Uint8Array): Attr => ({ type, data: v })
export const nest = (type: number, attrs: readonly Attr[]): Attr => ({ type, nested: attrs })

/** Encodes attributes, each padded to 4 bytes. */
export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = []
  for (const a of attrs) {
    const payload = 'nested' in a ? encodeAttrs(a.nested) : Buffer.from(a.data)
    const header = Buffer.alloc(4)
    header.writeUInt16LE(4 + payload.length, 0)
    header.writeUInt16LE('nested' in a ? a.type | NLA_F_NESTED : a.type, 2)
    parts.push(header, payload, Buffer.alloc(align4(payload.length) - payload.length))
  }
  return Buffer.concat(parts)
}

/** One whole message: header (length filled in, pid 0: the kernel assigns the port) and body. */
export function encodeMessage(type: number, flags: number, seq: number, body: Uint8Array): Buffer {
  const header = Buffer.alloc(NLMSG_HDRLEN)
  const len = NLMSG_HDRLEN + body.length
  header.writeUInt32LE(len, 0)
  header.writeUInt16LE(type, 4)
  header.writeUInt16LE(flags, 6)
  header.writeUInt32LE(seq >>> 0, 8)
  header.writeUInt32LE(0, 12)
  return Buffer.concat([header, Buffer.from(body), Buffer.alloc(align4(len) - len)])
}

/** One decoded message of a reply. */
export interface NlMessage {
  readonly type: number
  readonly flags: number
  readonly seq: number
  /** The bytes after the header. */
  readonly body: Buffer
}

/** Splits a datagram into messages; a truncated or malformed one ends the list with an error. */
export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = []
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length;) {
    const len = buf.readUInt32LE(off)
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new Error(`netlink: malformed message length ${len} at ${off} of ${buf.length}`)
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), body: buf.subarray(off + NLMSG_HDRLEN, off + len) })
    off += align4(len)
  }
  return out
}

/** The errno of an NLMSG_ERROR body: 0 for an acknowledgement, else the positive errno the kernel refused with. */
export function errorCode(body: Buffer): number {
  if (body.length < 4) throw new Error('netlink: short NLMSG_ERROR')
  return -body.readInt32LE(0)
}

/** One attribute as received: its type (nested flag removed), its bytes with the header, and its payload. */
export interface RawAttr {
  readonly type: number
  readonly raw: Buffer
  readonly payload: Buffer
}

/** The attributes of a body from `offset`, in order; a malformed length ends the list. */
export function attrList(buf: Buffer, offset = 0): RawAttr[] {
  const out: RawAttr[] = []
  for (let off = offset; off + 4 <= buf.length;) {
    const len = buf.readUInt16LE(off)
    if (len < 4 || off + len > buf.length) break
    out.push({ type: buf.readUInt16LE(off + 2) & ~NLA_F_NESTED & 0x3fff, raw: buf.subarray(off, off + len), payload: buf.subarray(off + 4, off + len) })
    off += align4(len)
  }
  return out
}

/** Attributes of a body from `offset`: type (nested flag removed) to payload, the last one of a type winning. */
export function decodeAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  return new Map(attrList(buf, offset).map((a) => [a.type, a.payload]))
}

/** `b` followed by the zero bytes that pad it to a 4-byte boundary (an attribute that others follow). */
export function padded(b: Buffer): Buffer {
  return b.length === align4(b.length) ? b : Buffer.concat([b, Buffer.alloc(align4(b.length) - b.length)])
}

/** A NUL-terminated string payload. */
export function attrString(b: Buffer | undefined): string | undefined {
  if (!b) return undefined
  const nul = b.indexOf(0)
  return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8')
}

/** errno names and texts for the numbers rtnetlink answers with most (asm-generic/errno-base.h, errno.h). */
const ERRNOS: Record<number, readonly [string, string]> = {
  1: ['EPERM', 'Operation not permitted'], 2: ['ENOENT', 'No such file or directory'], 3: ['ESRCH', 'No such process'],
  12: ['ENOMEM', 'Cannot allocate memory'], 13: ['EACCES', 'Permission denied'], 16: ['EBUSY', 'Device or resource busy'],
  17: ['EEXIST', 'File exists'], 19: ['ENODEV', 'No such device'], 22: ['EINVAL', 'Invalid argument'], 34: ['ERANGE', 'Numerical result out of range'],
  95: ['EOPNOTSUPP', 'Operation not supported'], 97: ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  98: ['EADDRINUSE', 'Address already in use'], 99: ['EADDRNOTAVAIL', 'Cannot assign requested address'],
  101: ['ENETUNREACH', 'Network is unreachable'], 113: ['EHOSTUNREACH', 'No route to host'],
}

/** The errno's name ("EEXIST"), or "E<number>" for one not in the table. */
export function errnoName(errno: number): string {
  return ERRNOS[errno]?.[0] ?? `E${errno}`
}

/** The errno's text as strerror(3) gives it ("File exists"). */
export function errnoText(errno: number): string {
  return ERRNOS[errno]?.[1] ?? `error ${errno}`
}
