// Appends one JSON line per plugin invocation to TSCNI_LOG_FILE or the config's logFile (operators ask why an ADD
// was slow or failed; the reference plugins log nothing).
import { appendFileSync } from 'node:fs'
import type { InvocationRecord } from './dispatch.ts'
import type { Logger } from './log.ts'
import type { StepTiming } from './trace.ts'

/** Everything one log line is made from. */
export interface InvocationLogInput {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly role: string
  readonly record: InvocationRecord
  readonly steps: readonly StepTiming[]
  readonly totalMs: number
  readonly log: Logger
  readonly now?: Date
}

/** The JSON object written for one invocation (pure, for tests). */
export function invocationLine(input: InvocationLogInput): Record<string, unknown> {
  const { record } = input
  return {
    time: (input.now ?? new Date()).toISOString(),
    role: input.role,
    verb: record.verb,
    containerId: record.containerId,
    ifname: record.ifname,
    network: record.network,
    cniVersion: record.cniVersion,
    outcome: record.error ? 'error' : 'ok',
    ...(record.error ? { error: record.error } : {}),
    ...(record.addresses ? { addresses: record.addresses } : {}),
    ms: Math.round(input.totalMs * 100) / 100,
    steps: input.steps,
  }
}

/** Appends the line; a log that cannot be written is reported on stderr and never fails the verb. */
export async function writeInvocationLog(input: InvocationLogInput): Promise<void> {
  const file = input.env.TSCNI_LOG_FILE || input.record.logFile
  if (!file) return
  try {
    appendFileSync(file, `${JSON.stringify(invocationLine(input))}\n`, { mode: 0o600 })
  } catch (err) {
    input.log.warn(`cannot write log file ${file}: ${(err as Error).message}`)
  }
}
