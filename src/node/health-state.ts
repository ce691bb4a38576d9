// The node agent's health as supervisors see it: alive (with etcd's reachability) and ready (lease held, last
// reconcile succeeded, conflist on disk). Being ready is also published as the readiness file the bridge's STATUS
// checks, so a runtime that asks STATUS learns the network is not ready yet.
import { promises as fs } from 'node:fs'
import type { HealthReport } from '../cli/health-addr.ts'
import { removeFile, writeAtomic } from './local-files.ts'
import { bootId } from '../plugin/ready-file.ts'

/** What the agent reports as it runs (agent.ts calls these; none of them throws). */
export interface AgentHealth {
  /** A subnet lease is held (first lease, or after leasing again). */
  leased(id: string, subnet: string): void
  /** The lease is gone (expired, revoked, taken): not ready until leased and reconciled again. */
  leaseLost(why: string): void
  /** A reconcile pass succeeded: routes, entries and rules are as planned. */
  reconciled(): Promise<void>
  reconcileFailed(why: string): Promise<void>
  etcdUp(): void
  etcdDown(why: string): void
}

/** The agent's health with the probes the health server answers. */
export interface AgentHealthState extends AgentHealth {
  healthz(): HealthReport
  readyz(): Promise<HealthReport>
}

/** Tracks the agent's health; `readyFile` is written (with this boot's id) while ready and removed otherwise. */
export function createAgentHealth(o: { conflist: string; readyFile: string; now?: () => Date }): AgentHealthState {
  const now = o.now ?? (() => new Date())
  const started = now().toISOString()
  let lease: { id: string; subnet: string } | undefined
  let leaseProblem = 'no subnet lease yet'
  let reconciledOk = false
  let reconcileProblem = 'no reconcile pass yet'
  let lastReconcile: string | undefined
  let etcd: { up: boolean; since: string; detail?: string } = { up: false, since: started, detail: 'not contacted yet' }
  let published: boolean | undefined
  let writes = Promise.resolve()

  const ready = () => lease !== undefined && reconciledOk
  // The file follows readiness; writes are serialised so the last transition wins.
  const publish = (): Promise<void> => {
    const want = ready()
    if (want === published) return writes
    published = want
    writes = writes.then(async () => {
      if (want) await writeAtomic(o.readyFile, `${await bootId()}\n`)
      else await removeFile(o.readyFile)
    }).catch(() => undefined)
    return writes
  }

  return {
    leased(id, subnet) {
      lease = { id, subnet }
      // A new lease is programmed by the next pass; until then the routes of the old one may be what is there.
      reconciledOk = false
      reconcileProblem = `leased ${subnet}; waiting for the first reconcile pass`
    },
    leaseLost(why) {
      lease = undefined
      leaseProblem = why
      void publish()
    },
    async reconciled() {
      reconciledOk = true
      lastReconcile = now().toISOString()
      await publish()
    },
    async reconcileFailed(why) {
      reconciledOk = false
      reconcileProblem = why
      await publish()
    },
    etcdUp() {
      if (!etcd.up) etcd = { up: true, since: now().toISOString() }
    },
    etcdDown(why) {
      etcd = etcd.up || etcd.detail !== why ? { up: false, since: etcd.up ? now().toISOString() : etcd.since, detail: why } : etcd
    },
    healthz() {
      const etcdText = etcd.up ? `reachable since ${etcd.since}` : `unreachable since ${etcd.since}: ${etcd.detail}`
      return { ok: true, body: { status: 'alive', started, etcd: etcdText, etcdReachable: etcd.up, ...(lastReconcile ? { lastReconcile } : {}) } }
    },
    async readyz() {
      const problems: string[] = []
      if (!lease) problems.push(leaseProblem)
      if (!reconciledOk) problems.push(reconcileProblem)
      if (!(await exists(o.conflist))) problems.push(`CNI config ${o.conflist} is missing`)
      return {
        ok: problems.length === 0,
        body: { status: problems.length === 0 ? 'ready' : 'not ready', ...(lease ? { subnet: lease.subnet, lease: lease.id } : {}), conflist: o.conflist, problems },
      }
    },
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path)
    return true
  } catch {
    return false
  }
}
