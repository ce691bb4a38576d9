// The host-local role. Not implemented yet: every verb but VERSION answers with a clear error.
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { RoleHandlers } from '../plugin/role.ts'

/** Builds the host-local role's handlers. */
export function createHostLocal(): RoleHandlers {
  const notYet = async (): Promise<never> => {
    throw new CniError(ErrorCode.Internal, 'the host-local role is not implemented in this build of tscni yet')
  }
  return { about: 'tscni host-local', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet }
}
