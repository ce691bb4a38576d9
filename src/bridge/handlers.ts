// The bridge role. Not implemented yet: every verb but VERSION answers with a clear error.
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { RoleHandlers } from '../plugin/role.ts'

/** Builds the bridge role's handlers. */
export function createBridge(): RoleHandlers {
  const notYet = async (): Promise<never> => {
    throw new CniError(ErrorCode.Internal, 'the bridge role is not implemented in this build of tscni yet')
  }
  return { about: 'tscni bridge', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet }
}
