// One firewall transaction with a single retry: render from the current state, apply; on failure re-read and retry.
import { normalizeError } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import { applyError } from './errors.ts'

/** Runs a transaction; on failure re-reads the state and tries once more (someone may have changed it meanwhile). */
export async function applyWithRetry(
  what: string,
  render: () => Promise<string>,
  apply: (script: string) => Promise<void>,
  log: Logger,
): Promise<void> {
  const first = await render()
  if (first === '') return
  try {
    await apply(first)
    return
  } catch (err) {
    log.debug(`${what} failed, retrying on fresh state: ${normalizeError(err).message}`)
  }
  const second = await render()
  if (second === '') return
  try {
    await apply(second)
  } catch (err) {
    throw applyError(what, second, err)
  }
}
