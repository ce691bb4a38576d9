// CNI error values: the spec's codes, the error JSON shape, and normalisation of anything thrown.
import { SystemError } from '../system/errors.ts'
import { classifyErrno, isErrno } from './fs-errors.ts'

/** Error codes from the CNI spec (0-99 reserved) plus the reference skel's 8 and 999. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const satisfies Record<string, number>

/** One of the codes above, or a plugin-specific code (100+). */
export type ErrorCodeValue = number

/** The error a plugin reports to the runtime. `details` carries what a person needs to debug it. */
export class CniError extends Error {
  readonly code: ErrorCodeValue
  readonly details: string | undefined

  constructor(code: ErrorCodeValue, msg: string, options: { details?: string; cause?: unknown } = {}) {
    super(msg, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CniError'
    this.code = code
    this.details = options.details
  }
}

/** Error JSON as printed on stdout (spec "Error" section; `details` omitted when empty, like the reference). */
export interface ErrorJson {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

/** Builds the error object printed on stdout. */
export function toErrorJson(err: CniError, cniVersion: string): ErrorJson {
  const out: ErrorJson = { cniVersion, code: err.code, msg: err.message }
  if (err.details) out.details = err.details
  return out
}

/**
 * Turns anything thrown into a CniError: CniErrors pass through, failed file-system calls get their errno's code
 * and cause (fileError), command failures become 999 with the
 * command line and its stderr in `details` — except a lock whose wait ran out (reason 'again'), which is 11, "try
 * again later", wherever the lock was taken — and everything else becomes 999 with its message (as the Go skel does).
 */
export function normalizeError(err: unknown): CniError {
  if (err instanceof CniError) return err
  if (isErrno(err) && err.syscall) return fileError('', err.path ?? '', err)
  if (err instanceof SystemError) {
    const code = err.reason === 'again' ? ErrorCode.TryAgainLater : ErrorCode.Internal
    return new CniError(code, err.message, { details: err.describe(), cause: err })
  }
  if (err instanceof Error) return new CniError(ErrorCode.Internal, err.message, { cause: err })
  return new CniError(ErrorCode.Internal, String(err))
}

/** Adds context in front of an error's message while keeping its code and details ("create veth x: <cause>"). */
export function wrapError(context: string, err: unknown): CniError {
  const inner = normalizeError(err)
  return new CniError(inner.code, `${context}: ${inner.message}`, { details: inner.details, cause: err })
}

/** Shorthand for the most common error: a config field with a bad value (code 7). */
export function invalidConfig(msg: string, details?: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, msg, details === undefined ? {} : { details })
}

/**
 * A failed file-system call as `<what>: <syscall> <path>: <cause>` with the errno's CNI code (5, or 11 for what
 * clears up by itself such as a full disk), e.g. "failed to create the data directory /d/net: mkdir /d: read-only
 * file system" (without `what`, Go's PathError text). The errno name goes into `details`. Anything that is not an errno error is normalised as usual.
 */
export function fileError(what: string, path: string, err: unknown): CniError {
  if (!isErrno(err)) return normalizeError(err)
  const { cause, code } = classifyErrno(err.code)
  const call = err.syscall ? `${err.syscall} ${err.path ?? path}` : (err.path ?? path)
  return new CniError(code, `${what ? `${what}: ` : ''}${call}: ${cause}`, { details: err.code, cause: err })
}
