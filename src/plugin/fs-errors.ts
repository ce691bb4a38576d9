// What a failed file-system call means: its errno name classified into a cause text and a CNI code (no message text).
// Kept free of imports so errors.ts can use it when it normalises anything thrown.

// The CNI codes used here (spec "Error" section), as in ErrorCode.
const IO_FAILURE = 5
const TRY_AGAIN_LATER = 11

/** A failed file-system call as Node reports it (`code` is the errno name, e.g. "EROFS"). */
export interface ErrnoLike {
  readonly code: string
  readonly syscall?: string
  readonly path?: string
}

// What each errno means for a data or state directory, and the CNI code (spec "Error" section): 11 "try again
// later" for conditions that clear up without anyone changing the node (space freed, descriptors closed), 5 "I/O
// failure" for the rest. The cause text is the one Go's syscall package prints, so messages read like the reference's.
const ERRNOS: Readonly<Record<string, { cause: string; code: number }>> = {
  EROFS: { cause: 'read-only file system', code: IO_FAILURE },
  ENOSPC: { cause: 'no space left on device', code: TRY_AGAIN_LATER },
  EDQUOT: { cause: 'disk quota exceeded', code: TRY_AGAIN_LATER },
  EMFILE: { cause: 'too many open files', code: TRY_AGAIN_LATER },
  ENFILE: { cause: 'too many open files in system', code: TRY_AGAIN_LATER },
  EAGAIN: { cause: 'resource temporarily unavailable', code: TRY_AGAIN_LATER },
  EBUSY: { cause: 'device or resource busy', code: TRY_AGAIN_LATER },
  EACCES: { cause: 'permission denied', code: IO_FAILURE },
  EPERM: { cause: 'operation not permitted', code: IO_FAILURE },
  ENOENT: { cause: 'no such file or directory', code: IO_FAILURE },
  ENOTDIR: { cause: 'not a directory', code: IO_FAILURE },
  EISDIR: { cause: 'is a directory', code: IO_FAILURE },
  EEXIST: { cause: 'file exists', code: IO_FAILURE },
  ENOTEMPTY: { cause: 'directory not empty', code: IO_FAILURE },
  ELOOP: { cause: 'too many levels of symbolic links', code: IO_FAILURE },
  ENAMETOOLONG: { cause: 'file name too long', code: IO_FAILURE },
  EIO: { cause: 'input/output error', code: IO_FAILURE },
  EXDEV: { cause: 'invalid cross-device link', code: IO_FAILURE },
}

/** True for an error carrying an errno name (what node:fs throws). */
export function isErrno(err: unknown): err is ErrnoLike {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)
}

/** The errno name of `err`, or undefined. */
export function errnoOf(err: unknown): string | undefined {
  return isErrno(err) ? err.code : undefined
}

/** True when `err` is the errno `code` ("ENOENT"...). */
export function hasErrno(err: unknown, code: string): boolean {
  return errnoOf(err) === code
}

/** The cause text and CNI code of an errno; unknown errnos are I/O failures named by their code. */
export function classifyErrno(code: string): { cause: string; code: number } {
  return ERRNOS[code] ?? { cause: code.toLowerCase(), code: IO_FAILURE }
}
