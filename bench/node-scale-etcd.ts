// The node-scale benchmark's etcd side: a worker run inside the segment namespace (etcd is reachable only there)
// that writes and deletes simulated peers' leases through tscni's own etcd client, measures the size of a lease
// listing, and reads etcd's Prometheus metrics. Spoken to over IPC by bench/node-scale.ts.
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { createEtcdClient } from '../src/node/etcd-client.ts'

/** What the benchmark asks. */
export type EtcdCommand =
  | { op: 'put'; key: string; value: string; leased?: boolean }
  | { op: 'put-many'; entries: Array<{ key: string; value: string }> }
  | { op: 'delete-prefix'; prefix: string }
  | { op: 'range-bytes'; prefix: string }
  | { op: 'metrics' }
  | { op: 'exit' }

const [endpoint, caFile, certFile, keyFile] = process.argv.slice(2) as [string, string, string, string]
const tls = { ca: readFileSync(caFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
const etcd = createEtcdClient({ endpoints: [endpoint], ...tls })
// One etcd lease (an hour) holds every simulated peer's key, as a real node's key hangs on its own lease.
let leaseId: string | undefined
const lease = async (): Promise<string> => (leaseId ??= await etcd.grant(3600))

/** One raw gateway call: the answer's body as text (for its size, and for the metrics page). */
function raw(method: 'GET' | 'POST', path: string, body?: unknown): Promise<string> {
  const url = new URL(endpoint)
  return new Promise((resolve, reject) => {
    const req = request({ hostname: url.hostname, port: url.port, method, path, ...tls, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

const b64 = (s: string) => Buffer.from(s).toString('base64')
const prefixEnd = (p: string) => b64(p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1))

async function handle(cmd: EtcdCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'put':
      return etcd.put(cmd.key, cmd.value, cmd.leased === false ? undefined : await lease())
    case 'put-many': {
      const id = await lease()
      let next = 0
      // 32 writers: 1000 keys in about a second, without one transaction so large etcd refuses it (--max-txn-ops).
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < cmd.entries.length) {
          const e = cmd.entries[next++]!
          await etcd.put(e.key, e.value, id)
        }
      }))
      return cmd.entries.length
    }
    case 'delete-prefix':
      return raw('POST', '/v3/kv/deleterange', { key: b64(cmd.prefix), range_end: prefixEnd(cmd.prefix) })
    case 'range-bytes':
      return Buffer.byteLength(await raw('POST', '/v3/kv/range', { key: b64(cmd.prefix), range_end: prefixEnd(cmd.prefix) }))
    case 'metrics':
      return raw('GET', '/metrics')
    case 'exit':
      if (leaseId) await etcd.revoke(leaseId).catch(() => undefined)
      etcd.close()
      setImmediate(() => process.exit(0))
      return undefined
  }
}

process.on('message', (msg: { seq: number; cmd: EtcdCommand }) => {
  handle(msg.cmd).then(
    (value) => process.send!({ seq: msg.seq, value }),
    (err: unknown) => process.send!({ seq: msg.seq, error: err instanceof Error ? err.message : String(err) }),
  )
})
process.on('disconnect', () => process.exit(0))
