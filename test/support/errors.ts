// Catching the CniError a call throws, so a test can assert its code, message and details.
import { CniError } from '../../src/plugin/errors.ts'

/** The CniError `fn` throws; fails the test when it returns or throws something else. */
export function errorOf(fn: () => unknown): CniError {
  try {
    fn()
  } catch (err) {
    if (err instanceof CniError) return err
    throw err
  }
  throw new Error('expected a CniError')
}

/** The CniError the promise rejects with; fails the test when it resolves or rejects with something else. */
export async function asyncErrorOf(promise: Promise<unknown>): Promise<CniError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof CniError) return err
    throw err
  }
  throw new Error('expected a CniError')
}
