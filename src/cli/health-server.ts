// The health endpoints of long-running commands: GET /healthz (alive) and GET /readyz (ready), JSON bodies, 200 or
// 503. Loaded (node:http) only by `tscni node run --health-addr` and `tscni reconcile --watch --health-addr`.
import { createServer } from 'node:http'
import type { HealthAddr, HealthProbes } from './health-addr.ts'

/** A listening health server. */
export interface HealthServer {
  /** The address actually bound, as IP:PORT (port 0 resolved). */
  readonly address: string
  close(): Promise<void>
}

/** Listens on `addr` and answers the probes until closed. */
export async function startHealthServer(addr: HealthAddr, probes: HealthProbes): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const probe = path === '/healthz' ? probes.healthz : path === '/readyz' ? probes.readyz : undefined
    const send = (code: number, body: unknown) => {
      const text = `${JSON.stringify(body)}\n`
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
      res.end(req.method === 'HEAD' ? undefined : text)
    }
    if (!probe) return send(404, { error: `no such endpoint ${path}; try /healthz or /readyz` })
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'only GET and HEAD' })
    Promise.resolve()
      .then(() => probe())
      .then((report) => send(report.ok ? 200 : 503, report.body))
      .catch((err: unknown) => send(503, { status: 'probe failed', error: err instanceof Error ? err.message : String(err) }))
  })
  // A supervisor's probe is short-lived: never let an idle connection keep the agent's shutdown waiting.
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address()
  const address = typeof bound === 'object' && bound ? (bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`) : String(bound)
  return {
    address,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
