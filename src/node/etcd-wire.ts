// The etcd JSON gateway's wire format: base64 keys and values, int64 revisions as strings, the watch stream's
// framing and messages, and the errors the client raises. Pure.

/** One key-value pair, revisions as decimal strings (int64 in JSON). */
export interface KeyValue {
  readonly key: string
  /** The value; only its first VALUE_KEEP_BYTES when it is over MAX_VALUE_BYTES (then `oversize` is set). */
  readonly value: string
  readonly createRevision: string
  readonly modRevision: string
  /** The lease ID the key is bound to, if any. */
  readonly lease?: string
  /** The value's size in bytes when it was over MAX_VALUE_BYTES: it was cut, and no one may parse or use it. */
  readonly oversize?: number
}

/**
 * The largest value the agent keeps. A lease is ~150 bytes and the cluster config ~100; anything bigger than this
 * is hostile or broken, and is cut before it is parsed, logged or kept (etcd itself accepts up to 1.5 MiB).
 */
export const MAX_VALUE_BYTES = 4096
/** How much of an oversize value is kept (for the warning, itself cut further). */
export const VALUE_KEEP_BYTES = 64
/**
 * The largest gateway answer or watch message read: bounded memory whatever others wrote. Honest answers are far
 * smaller (a page of 500 leases is ~150 KiB); one holding a value near etcd's 1.5 MiB limit is refused, and the
 * list takes that key without its value.
 */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024

/** One change seen by a watch. */
export interface WatchEvent {
  readonly type: 'put' | 'delete'
  readonly kv: KeyValue
}

/** etcd answered with an error, or could not be reached. */
export class EtcdError extends Error {
  /** The HTTP status, when etcd answered. */
  readonly status: number | undefined
  constructor(message: string, status?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'EtcdError'
    this.status = status
  }
}

/** The watch start revision was compacted away: list again and watch from the new revision. */
export class EtcdCompactedError extends EtcdError {
  readonly compactRevision: string
  constructor(compactRevision: string) {
    super(`watch revision compacted (oldest available: ${compactRevision})`)
    this.name = 'EtcdCompactedError'
    this.compactRevision = compactRevision
  }
}

/** Base64 of a UTF-8 string (keys and values on the wire). */
export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
const unb64 = (s: unknown): string => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '')

/** The range_end that makes a range cover every key starting with `prefix` (etcd's "prefix end": last byte + 1). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8')
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1))
      end[i] = end[i]! + 1
      return end.toString('base64')
    }
  }
  return Buffer.from([0]).toString('base64')
}

/** A JSON object. */
export type Json = Record<string, unknown>
/** True for a JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Decodes a gateway key-value (base64 fields, omitted zero values); a value over MAX_VALUE_BYTES is cut. */
export function decodeKv(raw: unknown): KeyValue {
  const o = isObject(raw) ? raw : {}
  const lease = typeof o.lease === 'string' && o.lease !== '0' ? o.lease : undefined
  const text = typeof o.value === 'string' ? o.value : ''
  // A value cut while reading (JsonStreamSplitter) carries its original length after CUT_MARK.
  const mark = text.lastIndexOf(CUT_MARK)
  const value = mark >= 0 ? text.slice(0, mark) : text
  const chars = mark >= 0 ? Number(text.slice(mark + 1)) : text.length
  // The decoded size from the base64 length, so an oversize value is never decoded whole.
  const size = mark >= 0 ? Math.floor((chars * 3) / 4) : Math.floor((chars * 3) / 4) - (value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0)
  const oversize = size > MAX_VALUE_BYTES
  return {
    key: unb64(o.key),
    value: oversize ? unb64(value.slice(0, (VALUE_KEEP_BYTES / 3) * 4)) : unb64(value),
    createRevision: typeof o.create_revision === 'string' ? o.create_revision : '0',
    modRevision: typeof o.mod_revision === 'string' ? o.mod_revision : '0',
    ...(lease ? { lease } : {}),
    ...(oversize ? { oversize: size } : {}),
  }
}

/**
 * The longest string kept whole while reading a message: a longer one (a value near etcd's 1.5 MiB limit) keeps
 * its first MAX_STRING_CHARS characters and CUT_MARK with its length, so it is never held or parsed in full.
 */
export const MAX_STRING_CHARS = 8192
/** Not a base64 character: ends a cut value, followed by its original length in characters. */
export const CUT_MARK = '!'

/** A watch message larger than MAX_MESSAGE_BYTES, or an answer over its limit. */
export class EtcdTooLargeError extends EtcdError {
  constructor(what: string, limit: number) {
    super(`${what} is larger than ${limit} bytes`)
    this.name = 'EtcdTooLargeError'
  }
}

/**
 * Frames a stream of concatenated JSON objects (the gateway's watch stream: one object per message, usually one
 * per line) incrementally: each chunk is scanned once, from where the last one stopped, and the unfinished rest
 * may not exceed `maxBytes` (then push throws EtcdTooLargeError).
 */
export class JsonStreamSplitter {
  /** The pieces of the unfinished object, from earlier chunks. */
  private pending: string[] = []
  private pendingSize = 0
  private depth = 0
  private inString = false
  private escaped = false
  /** Characters of the current string so far, and whether the rest of it is being dropped. */
  private stringLength = 0
  private dropping = false
  private readonly maxBytes: number
  private readonly maxString: number
  constructor(maxBytes: number = MAX_MESSAGE_BYTES, maxString: number = MAX_STRING_CHARS) {
    this.maxBytes = maxBytes
    this.maxString = maxString
  }

  /** Adds a chunk; the objects it completed. */
  push(chunk: string): unknown[] {
    const objects: unknown[] = []
    // Where the kept text of the current object starts in this chunk (-1: nothing to keep from this chunk yet).
    let from = this.depth > 0 && !this.dropping ? 0 : -1
    const keep = (to: number) => {
      if (from < 0) return
      const piece = chunk.slice(from, to)
      this.pending.push(piece)
      this.pendingSize += piece.length
      from = -1
      if (this.pendingSize > this.maxBytes) throw new EtcdTooLargeError('a message', this.maxBytes)
    }
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i)
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (ch === 0x5c) this.escaped = true
        else if (ch === 0x22) {
          this.inString = false
          if (this.dropping) {
            // The string's first maxString characters were kept; the marker says how long it was.
            this.pending.push(`${CUT_MARK}${this.stringLength}`)
            this.dropping = false
            from = i
          }
          continue
        }
        this.stringLength++
        // Cut only outside an escape sequence (etcd's base64 has none), so the kept text stays valid JSON.
        if (!this.dropping && this.stringLength > this.maxString && !this.escaped && ch !== 0x5c && !/\\u[0-9a-fA-F]{0,3}$/.test(chunk.slice(Math.max(0, i - 5), i + 1))) {
          keep(i)
          this.dropping = true
        }
        continue
      }
      if (ch === 0x22) {
        this.inString = true
        this.stringLength = 0
      } else if (ch === 0x7b) {
        if (this.depth === 0) {
          from = i
          this.pending = []
          this.pendingSize = 0
        }
        this.depth++
      } else if (ch === 0x7d && this.depth > 0) {
        this.depth--
        if (this.depth === 0) {
          keep(i + 1)
          objects.push(JSON.parse(this.pending.join('')))
          this.pending = []
          this.pendingSize = 0
        }
      }
    }
    if (this.depth > 0 && !this.dropping) keep(chunk.length)
    return objects
  }

  /** The unfinished rest (for tests). */
  get rest(): string {
    return this.pending.join('')
  }
}

/**
 * Splits a stream of concatenated JSON objects into whole objects; returns them and the unfinished rest (one-shot
 * form of JsonStreamSplitter).
 */
export function splitJsonStream(buffer: string): { objects: unknown[]; rest: string } {
  const splitter = new JsonStreamSplitter(Number.MAX_SAFE_INTEGER)
  const objects = splitter.push(buffer)
  return { objects, rest: splitter.rest }
}

/** Decodes one watch stream message: events, or the reason the watch ended. */
export function decodeWatchMessage(raw: unknown): { events: WatchEvent[]; revision?: string; compacted?: string; canceled?: string } {
  const o = isObject(raw) ? raw : {}
  if (isObject(o.error)) throw new EtcdError(`watch failed: ${String(o.error.message ?? JSON.stringify(o.error))}`)
  const r = isObject(o.result) ? o.result : {}
  const header = isObject(r.header) ? r.header : {}
  const revision = typeof header.revision === 'string' ? header.revision : undefined
  if (typeof r.compact_revision === 'string' && r.compact_revision !== '0') return { events: [], compacted: r.compact_revision }
  if (r.canceled === true) return { events: [], canceled: typeof r.cancel_reason === 'string' ? r.cancel_reason : 'canceled by the server' }
  const events = Array.isArray(r.events)
    ? r.events.map((e): WatchEvent => ({ type: isObject(e) && e.type === 'DELETE' ? 'delete' : 'put', kv: decodeKv(isObject(e) ? e.kv : undefined) }))
    : []
  return revision === undefined ? { events } : { events, revision }
}

