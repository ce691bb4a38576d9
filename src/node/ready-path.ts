// Where the node agent keeps its readiness file (plugin/ready-file.ts has the format): `--ready-file`, else
// `ready` in the state dir, beside state.json.
import { join } from 'node:path'
import type { NodeOptions } from './options.ts'

export const READY_FILE = 'ready'

/** The readiness file of these options. */
export function readyFileOf(o: Pick<NodeOptions, 'stateDir' | 'readyFile'>): string {
  return o.readyFile ?? join(o.stateDir, READY_FILE)
}
