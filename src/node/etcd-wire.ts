// The etcd JSON gateway's wire format: base64 keys and values, int64 revisions as strings, the watch stream's
// framing and messages, and the errors the client raises. Pure.

/** One key-value pair, revisions as decimal strings (int64 in JSON). */
export interface KeyValue {
  readonly key: string
  readonly value: string
  readonly createRevision: string
  readonly modRevision: string
  /** The lease ID the key is bound to, if any. */
  readonly lease?: string
}

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

/** Decodes a gateway key-value (base64 fields, omitted zero values). */
export function decodeKv(raw: unknown): KeyValue {
  const o = isObject(raw) ? raw : {}
  const lease = typeof o.lease === 'string' && o.lease !== '0' ? o.lease : undefined
  return {
    key: unb64(o.key),
    value: unb64(o.value),
    createRevision: typeof o.create_revision === 'string' ? o.create_revision : '0',
    modRevision: typeof o.mod_revision === 'string' ? o.mod_revision : '0',
    ...(lease ? { lease } : {}),
  }
}

/**
 * Splits a stream of concatenated JSON objects (the gateway's watch stream is one object per chunk, usually one
 * per line) into whole objects; returns them and the unfinished rest.
 */
export function splitJsonStream(buffer: string): { objects: unknown[]; rest: string } {
  const objects: unknown[] = []
  let depth = 0
  let inString = false
  let escaped = false
  let start = -1
  let consumed = 0
  for (let i = 0; i < buffer.length; i++) {
    const ch = buffer[i]
    if (inString) {
      if (escaped) escaped = false
      else if (ch === '\\') escaped = true
      else if (ch === '"') inString = false
      continue
    }
    if (ch === '"') inString = true
    else if (ch === '{') {
      if (depth === 0) start = i
      depth++
    } else if (ch === '}') {
      depth--
      if (depth === 0 && start >= 0) {
        objects.push(JSON.parse(buffer.slice(start, i + 1)))
        consumed = i + 1
        start = -1
      }
    }
  }
  return { objects, rest: depth === 0 ? '' : buffer.slice(start >= 0 ? start : consumed) }
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

