// `tscni reconcile --watch --health-addr`: alive while the loop runs; ready while the last pass succeeded.
import type { HealthAddr, HealthProbes } from './health-addr.ts'

/** The watch loop's state as the probes report it. */
export interface ReconcileHealth extends HealthProbes {
  /** Called after every pass. */
  passed(out: { failed: boolean; text: string }): void
}

export function createReconcileHealth(now: () => Date = () => new Date()): ReconcileHealth {
  const started = now().toISOString()
  let last: { at: string; failed: boolean; text: string } | undefined
  return {
    passed(out) {
      last = { at: now().toISOString(), failed: out.failed, text: out.text.trim() }
    },
    healthz: () => ({ ok: true, body: { status: 'alive', started, ...(last ? { lastPass: last.at } : {}) } }),
    readyz: () => last && !last.failed
      ? { ok: true, body: { status: 'ready', lastPass: last.at, summary: last.text.split('\n').at(-1) } }
      : { ok: false, body: { status: 'not ready', ...(last ? { lastPass: last.at, problems: last.text.split('\n').filter((l) => l.startsWith('FAILED') || l.startsWith('unreadable')) } : { problems: ['no pass yet'] }) } },
  }
}

/** Starts the server (node:http is loaded here, only when asked for). */
export async function serveReconcileHealth(addr: HealthAddr, health: ReconcileHealth): Promise<string> {
  const { startHealthServer } = await import('./health-server.ts')
  return (await startHealthServer(addr, health)).address
}
