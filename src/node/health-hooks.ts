// What `tscni node run|status` add for supervisors: the agent's health state and its HTTP endpoints
// (--health-addr, off by default), the readiness file in static mode, and the readiness verdict of `node status`.
import { promises as fs } from 'node:fs'
import { parseHealthAddr } from '../cli/health-addr.ts'
import type { Logger } from '../plugin/log.ts'
import { readyFileProblem } from '../plugin/ready-file.ts'
import { createAgentHealth, type AgentHealthState } from './health-state.ts'
import { cniConfPath, removeFile, writeAtomic } from './local-files.ts'
import type { NodeOptions } from './options.ts'
import { bootId } from '../plugin/ready-file.ts'
import { readyFileOf } from './ready-path.ts'
import type { NodeStatus } from './status.ts'

/** The agent's health state, served on `addr` when given; the readiness file is removed until the agent is ready. */
export async function serveAgentHealth(options: NodeOptions, addr: string | undefined, log: Logger): Promise<{ health: AgentHealthState; close(): Promise<void> }> {
  const readyFile = readyFileOf(options)
  // A file from an earlier run says nothing about this one: a restart is not ready before its first pass.
  await removeFile(readyFile)
  const health = createAgentHealth({ conflist: cniConfPath(options.cniConfDir, options.networkName), readyFile })
  if (addr === undefined) return { health, close: async () => undefined }
  const parsed = parseHealthAddr(addr)
  if (typeof parsed === 'string') throw new Error(parsed)
  const { startHealthServer } = await import('../cli/health-server.ts')
  const server = await startHealthServer(parsed, health)
  log.info(`health endpoints on http://${server.address}/healthz and /readyz`)
  return { health, close: () => server.close() }
}

/** Static mode applied the whole cluster: ready now. */
export async function staticReady(options: NodeOptions): Promise<void> {
  await writeAtomic(readyFileOf(options), `${await bootId()}\n`)
}

/** Whether the node is ready, and if not why (for `tscni node status`). */
export async function statusReadiness(report: NodeStatus, options: NodeOptions): Promise<{ ready: boolean; notReady: string[] }> {
  const notReady: string[] = []
  for (const p of report.peers) if (!p.installed) notReady.push(`the route to ${p.subnet} (${p.publicIp}) is missing in the kernel`)
  try {
    await fs.stat(report.cniConfFile)
  } catch {
    notReady.push(`the CNI config ${report.cniConfFile} is missing`)
  }
  const problem = await readyFileProblem(readyFileOf(options))
  if (problem) notReady.push(problem)
  return { ready: notReady.length === 0, notReady }
}
