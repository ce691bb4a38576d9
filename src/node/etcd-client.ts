// A small etcd v3 client over etcd's JSON gateway (/v3/kv/*, /v3/lease/*, /v3/watch), for the node agent only.
// Why not the `etcd3` npm package: it adds ~16 MB and ~150 ms of module load, reads a .proto file at run time and
// was last released in 2023; the gateway is part of etcd itself (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/),
// speaks plain JSON with base64 keys and values, and needs nothing beyond node:http(s). node:https rather than
// fetch because fetch cannot present a client certificate without undici's own Agent.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import { b64, decodeKv, decodeWatchMessage, EtcdCompactedError, EtcdError, EtcdTooLargeError, isObject, JsonStreamSplitter, MAX_MESSAGE_BYTES, prefixEnd, type Json, type KeyValue, type WatchEvent } from './etcd-wire.ts'

export { EtcdCompactedError, EtcdError, type KeyValue, type WatchEvent } from './etcd-wire.ts'

/** Keys per page of a list (etcd's range `limit`). */
/** The most characters of one answer read at all (what is kept is bounded lower, by MAX_MESSAGE_BYTES). */
export const MAX_ANSWER_CHARS = 64 * 1024 * 1024
export const LIST_PAGE = 500
/** The most keys a list keeps: more than any cluster has nodes (a /8 of /24s is 65,535). */
export const MAX_LIST_KEYS = 100_000

/** Where etcd is and how to authenticate. */
export interface EtcdOptions {
  /** "https://10.0.0.1:2379", ...; tried in order until one answers. */
  readonly endpoints: readonly string[]
  /** PEM texts (not paths): the CA that signed etcd's certificate, and our client certificate and key. */
  readonly ca?: string
  readonly cert?: string
  readonly key?: string
  /** Per-request timeout for unary calls (default 5 s). */
  readonly timeoutMs?: number
}

/** The calls the node agent needs. */
export interface EtcdClient {
  /**
   * Every key under the prefix (at most MAX_LIST_KEYS; `truncated` when there were more), read page by page at
   * one store revision, which is returned. `known`: the caller's last copy of a key, reused when unchanged.
   */
  list(prefix: string, known?: (key: string) => KeyValue | undefined): Promise<{ kvs: KeyValue[]; revision: string; truncated?: boolean }>
  get(key: string): Promise<KeyValue | undefined>
  put(key: string, value: string, lease?: string): Promise<void>
  /** Creates the key only if absent (a transaction on its create revision); false when it existed. */
  create(key: string, value: string, lease?: string): Promise<boolean>
  /** Replaces the key only if it is still at `modRevision` (takes over our own old lease); false otherwise. */
  replace(key: string, value: string, modRevision: string, lease?: string): Promise<boolean>
  /** Deletes the key; true when it existed. */
  delete(key: string): Promise<boolean>
  /** A new lease of `ttl` seconds; its ID. */
  grant(ttl: number): Promise<string>
  /** Renews the lease; the remaining TTL, 0 when the lease is gone (expired or revoked). */
  keepAlive(id: string): Promise<number>
  /** Revokes the lease, deleting its keys; no error when it is already gone. */
  revoke(id: string): Promise<void>
  /**
   * Watches the prefix from `startRevision`, calling `onEvents` for each batch, until `signal` aborts (resolves)
   * or the stream breaks (rejects with EtcdError; EtcdCompactedError when the revision is gone).
   */
  watch(prefix: string, startRevision: string, onEvents: (events: WatchEvent[], revision: string) => void, signal: AbortSignal): Promise<void>
  /** Closes idle connections. */
  close(): void
}

/** The real client. */
export function createEtcdClient(options: EtcdOptions): EtcdClient {
  if (options.endpoints.length === 0) throw new EtcdError('no etcd endpoints given')
  const endpoints = options.endpoints.map((e) => new URL(e))
  for (const url of endpoints) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new EtcdError(`etcd endpoint ${url.href}: only http and https are supported`)
  }
  const tls = { ...(options.ca ? { ca: options.ca } : {}), ...(options.cert ? { cert: options.cert } : {}), ...(options.key ? { key: options.key } : {}) }
  const httpsAgent = new HttpsAgent({ keepAlive: true, ...tls })
  const httpAgent = new HttpAgent({ keepAlive: true })
  const timeoutMs = options.timeoutMs ?? 5_000
  let preferred = 0
  // Lists read keys first while the prefix holds values too large for a page (see list).
  let keysFirst = false

  const open = (url: URL, path: string, body: unknown, signal: AbortSignal): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:'
      // How far the exchange got, so a timeout says where it hung (connect, TLS, or etcd's answer).
      let phase = 'before a connection was assigned'
      const req = (secure ? httpsRequest : httpRequest)({
        protocol: url.protocol, hostname: url.hostname, port: url.port || (secure ? 443 : 80), method: 'POST', path,
        headers: { 'content-type': 'application/json' }, agent: secure ? httpsAgent : httpAgent, signal,
      }, resolve)
      req.on('socket', (socket) => {
        const s = socket as import('node:tls').TLSSocket
        if (req.reusedSocket) phase = 'on a reused keep-alive connection, waiting for the answer'
        else if (s.connecting) {
          phase = 'connecting (TCP)'
          s.once('connect', () => { phase = secure ? 'in the TLS handshake' : 'waiting for the answer' })
          if (secure) s.once('secureConnect', () => { phase = 'waiting for the answer' })
        } else phase = 'waiting for the answer'
      })
      req.on('error', (err) => reject(new EtcdError(`${err.message} (${phase})`, undefined, err)))
      req.end(JSON.stringify(body))
    })

  // Reads an answer through the stream splitter, so a huge value is cut while it arrives and never held whole
  // (JsonStreamSplitter), and what is kept stays under MAX_MESSAGE_BYTES. Settles on every way an answer can end:
  // a connection closed or aborted midway must not leave a call pending forever (a keepalive that never returns
  // would let the lease expire in silence). Resolves the answer's object, or its first characters when not JSON.
  const readAnswer = (res: IncomingMessage): Promise<{ json?: unknown; head: string }> => new Promise((resolve, reject) => {
    const splitter = new JsonStreamSplitter()
    let json: unknown
    let head = ''
    let raw = 0
    let ended = false
    const fail = (err: unknown) => {
      if (ended) return
      ended = true
      res.destroy()
      reject(err)
    }
    res.setEncoding('utf8')
    res.on('data', (c: string) => {
      if (ended) return
      raw += c.length
      if (head.length < 200) head += c.slice(0, 200 - head.length)
      if (raw > MAX_ANSWER_CHARS) return fail(new EtcdTooLargeError('the answer', MAX_ANSWER_CHARS))
      try {
        for (const o of splitter.push(c)) json ??= o
      } catch (err) {
        fail(err instanceof EtcdError ? err : new EtcdError(`etcd's answer is not JSON: ${(err as Error).message}`))
      }
    })
    res.on('end', () => {
      if (ended) return
      ended = true
      resolve(json === undefined ? { head } : { json, head })
    })
    res.on('error', fail)
    res.on('close', () => fail(new EtcdError('the connection closed before the answer ended')))
  })

  // One request, failing over to the next endpoint when one cannot be reached (not when etcd answers an error).
  const call = async (path: string, body: unknown): Promise<Json> => {
    let lastError: unknown
    for (let n = 0; n < endpoints.length; n++) {
      const i = (preferred + n) % endpoints.length
      const url = endpoints[i]!
      let res: IncomingMessage
      let answer: { json?: unknown; head: string }
      try {
        // One deadline for the whole exchange (connect, headers, body), not a socket idle timeout.
        res = await open(url, path, body, AbortSignal.timeout(timeoutMs))
        answer = await readAnswer(res)
      } catch (err) {
        if (err instanceof EtcdTooLargeError) throw err
        lastError = err
        continue
      }
      preferred = i
      const text = answer.head
      if (answer.json === undefined && text.trim() !== '') {
        throw new EtcdError(`etcd ${url.host}${path}: answer is not JSON (HTTP ${res.statusCode}): ${text}`, res.statusCode)
      }
      const json = answer.json ?? {}
      if ((res.statusCode ?? 500) >= 300 || (isObject(json) && (json.error !== undefined || (json.code !== undefined && json.message !== undefined)))) {
        const msg = isObject(json) ? String(json.message ?? json.error ?? text) : text
        throw new EtcdError(`etcd ${url.host}${path}: ${msg}`, res.statusCode)
      }
      return isObject(json) ? json : {}
    }
    throw new EtcdError(`cannot reach etcd at ${endpoints.map((u) => u.host).join(', ')}: ${(lastError as Error)?.message ?? lastError}`, undefined, lastError)
  }

  // Lists page by page (flannel-io/flannel#2252: one range over thousands of leases at start-up), every page at
  // the first page's revision so the whole list is one consistent snapshot; values or keys only.
  const listPages = async (prefix: string, keysOnly: boolean): Promise<{ kvs: KeyValue[]; revision: string; truncated?: boolean }> => {
    const kvs: KeyValue[] = []
    let key = b64(prefix)
    let revision: string | undefined
    for (;;) {
      const res = await call('/v3/kv/range', { key, range_end: prefixEnd(prefix), limit: String(LIST_PAGE), ...(keysOnly ? { keys_only: true } : {}), ...(revision ? { revision } : {}) })
      const header = isObject(res.header) ? res.header : {}
      revision ??= typeof header.revision === 'string' ? header.revision : '0'
      const raw = Array.isArray(res.kvs) ? res.kvs : []
      for (const kv of raw) kvs.push(decodeKv(kv))
      if (kvs.length >= MAX_LIST_KEYS) return { kvs: kvs.slice(0, MAX_LIST_KEYS), revision, truncated: true }
      const last = raw.at(-1)
      if (res.more !== true || !isObject(last) || typeof last.key !== 'string') return { kvs, revision }
      // The next page starts just after the last key: the key with a zero byte appended.
      key = Buffer.concat([Buffer.from(last.key, 'base64'), Buffer.from([0])]).toString('base64')
    }
  }

  const txnOnKey = async (key: string, compare: Json, value: string, lease: string | undefined): Promise<boolean> => {
    const res = await call('/v3/kv/txn', {
      compare: [{ key: b64(key), ...compare }],
      success: [{ request_put: { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) } }],
    })
    return res.succeeded === true
  }

  return {
    async list(prefix, known) {
      // Once a list met a big value (someone else's, up to etcd's 1.5 MiB; cut while it was read) or a page too
      // large, lists take keys first and read only the values that changed since `known`, so an unchanged hostile
      // value is transferred once per change, not at every resync; back to whole pages once a list finds none.
      if (!keysFirst) {
        try {
          const listed = await listPages(prefix, false)
          keysFirst = listed.kvs.some((kv) => kv.oversize !== undefined)
          return listed
        } catch (err) {
          if (!(err instanceof EtcdTooLargeError)) throw err
          keysFirst = true
        }
      }
      const listed = await listPages(prefix, true)
      let oversize = false
      const kvs: KeyValue[] = []
      for (const k of listed.kvs) {
        const have = known?.(k.key)
        if (have && have.modRevision === k.modRevision) {
          kvs.push(have)
          oversize ||= have.oversize !== undefined
          continue
        }
        let kv: KeyValue | undefined
        try {
          const res = await call('/v3/kv/range', { key: b64(k.key), revision: listed.revision })
          kv = Array.isArray(res.kvs) && res.kvs.length > 0 ? decodeKv(res.kvs[0]) : undefined
        } catch (err) {
          if (!(err instanceof EtcdTooLargeError)) throw err
          kv = { ...k, value: '', oversize: MAX_MESSAGE_BYTES }
        }
        if (!kv) continue
        oversize ||= kv.oversize !== undefined
        kvs.push(kv)
      }
      keysFirst = oversize
      return { ...listed, kvs }
    },
    async get(key) {
      const res = await call('/v3/kv/range', { key: b64(key) })
      return Array.isArray(res.kvs) && res.kvs.length > 0 ? decodeKv(res.kvs[0]) : undefined
    },
    async put(key, value, lease) {
      await call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) })
    },
    create(key, value, lease) {
      // create_revision 0 is omitted from JSON by the gateway's marshaller but compares as 0 (the key is absent).
      return txnOnKey(key, { target: 'CREATE', result: 'EQUAL', create_revision: '0' }, value, lease)
    },
    replace(key, value, modRevision, lease) {
      return txnOnKey(key, { target: 'MOD', result: 'EQUAL', mod_revision: modRevision }, value, lease)
    },
    async delete(key) {
      const res = await call('/v3/kv/deleterange', { key: b64(key) })
      return typeof res.deleted === 'string' && res.deleted !== '0'
    },
    async grant(ttl) {
      const res = await call('/v3/lease/grant', { TTL: String(ttl) })
      if (typeof res.ID !== 'string') throw new EtcdError(`etcd lease grant: no lease ID in the answer${res.error ? ` (${String(res.error)})` : ''}`)
      return res.ID
    },
    async keepAlive(id) {
      const res = await call('/v3/lease/keepalive', { ID: id })
      const result = isObject(res.result) ? res.result : {}
      return typeof result.TTL === 'string' ? Number(result.TTL) : 0
    },
    async revoke(id) {
      try {
        await call('/v3/lease/revoke', { ID: id })
      } catch (err) {
        // "requested lease not found": already expired or revoked, which is what revoke wants.
        if (err instanceof EtcdError && /lease not found/.test(err.message)) return
        throw err
      }
    },
    async watch(prefix, startRevision, onEvents, signal) {
      const url = endpoints[preferred]!
      let res: IncomingMessage
      try {
        res = await open(url, '/v3/watch', { create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: startRevision } }, signal)
      } catch (err) {
        if (signal.aborted) return
        preferred = (preferred + 1) % endpoints.length
        throw new EtcdError(`cannot watch etcd at ${url.host}: ${(err as Error).message}`, undefined, err)
      }
      if ((res.statusCode ?? 500) >= 300) {
        res.resume()
        throw new EtcdError(`etcd ${url.host}/v3/watch: HTTP ${res.statusCode}`, res.statusCode)
      }
      await new Promise<void>((resolve, reject) => {
        const splitter = new JsonStreamSplitter()
        let settled = false
        const finish = (err?: unknown) => {
          if (settled) return
          settled = true
          if (err === undefined || signal.aborted) resolve()
          else reject(err)
          res.destroy()
        }
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          try {
            for (const o of splitter.push(chunk)) {
              const m = decodeWatchMessage(o)
              if (m.compacted) return finish(new EtcdCompactedError(m.compacted))
              if (m.canceled) return finish(new EtcdError(`watch canceled: ${m.canceled}`))
              if (m.events.length > 0) onEvents(m.events, m.revision ?? '0')
            }
          } catch (err) {
            finish(err instanceof EtcdError ? err : new EtcdError(`watch stream unreadable: ${(err as Error).message}`, undefined, err))
          }
        })
        res.on('end', () => finish(new EtcdError('watch stream ended')))
        res.on('error', (err) => finish(new EtcdError(`watch stream broke: ${err.message}`, undefined, err)))
        res.on('close', () => finish(new EtcdError('watch stream closed')))
      })
    },
    close() {
      httpsAgent.destroy()
      httpAgent.destroy()
    },
  }
}
