// The bridge's `readinessFile` option: STATUS answers code 50 until the file says this node's network is ready (the
// node agent writes it once its conflist, routes and rules are in place; see plugin/ready-file.ts).
import { configField, type NetConf } from '../plugin/config.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { readyFileProblem } from '../plugin/ready-file.ts'

/** Throws code 50 when the config names a readiness file that does not say "ready now". */
export async function assertNodeReady(conf: NetConf): Promise<void> {
  const path = configField(conf, 'readinessFile')
  if (typeof path !== 'string' || path === '') return
  const problem = await readyFileProblem(path)
  if (problem) throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${problem}`)
}
