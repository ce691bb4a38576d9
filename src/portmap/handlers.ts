// The portmap role. Not implemented yet: every verb but VERSION answers with a clear error.
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { RoleHandlers } from '../plugin/role.ts'

/** Builds the portmap role's handlers. */
export function createPortmap(): RoleHandlers {
  const notYet = async (): Promise<never> => {
    throw new CniError(ErrorCode.Internal, 'the portmap role is not implemented in this build of tscni yet')
  }
  return { about: 'tscni portmap', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet }
}
