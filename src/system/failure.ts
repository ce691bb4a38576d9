// Why an external command failed, as one errno-like reason: parsed once here from what the tool printed (iproute2,
// nft and flock print the kernel's strerror text or their own fixed messages), or mapped from an errno number when
// the kernel's answer arrives directly. Callers branch on the reason, never on message text.
import { constants } from 'node:os'

/**
 * The reasons callers act on, named after the errno they stand for. `timed-out` is a command this process killed
 * after its time limit; `cannot-run` a command that could not be started (no such binary, say); `other` anything
 * not recognised (the SystemError's message and stderr still say what happened).
 */
export type FailureReason =
  | 'exists' // EEXIST: the object is there already
  | 'not-found' // ENOENT, ESRCH: no such file, table, chain, route or entry
  | 'no-device' // ENODEV, ENXIO: no such network device
  | 'again' // EAGAIN / EWOULDBLOCK: busy now, try again later (a lock held past its wait)
  | 'busy' // EBUSY
  | 'permission' // EPERM, EACCES
  | 'invalid' // EINVAL
  | 'not-supported' // EOPNOTSUPP (ENOTSUP), EPROTONOSUPPORT, EAFNOSUPPORT
  | 'timed-out'
  | 'cannot-run'
  | 'other'

// errno name → reason. Anything else is 'other'.
const ERRNO_REASONS: Readonly<Record<string, FailureReason>> = {
  EEXIST: 'exists',
  ENOENT: 'not-found',
  ESRCH: 'not-found',
  ENODEV: 'no-device',
  ENXIO: 'no-device',
  EAGAIN: 'again',
  EWOULDBLOCK: 'again',
  EBUSY: 'busy',
  EPERM: 'permission',
  EACCES: 'permission',
  EINVAL: 'invalid',
  EOPNOTSUPP: 'not-supported',
  ENOTSUP: 'not-supported', // the same number as EOPNOTSUPP on Linux
  EPROTONOSUPPORT: 'not-supported',
  EAFNOSUPPORT: 'not-supported',
  ETIMEDOUT: 'timed-out',
}

/** The reason for an errno, by name ("EEXIST") or number (17, or -17 as netlink reports it). */
export function reasonFromErrno(errno: string | number): FailureReason {
  if (typeof errno === 'string') return ERRNO_REASONS[errno] ?? 'other'
  const n = Math.abs(errno)
  const name = Object.entries(constants.errno).find(([, value]) => value === n)?.[0]
  return name === undefined ? 'other' : reasonFromErrno(name)
}

// What the tools print, in the order tried (first match wins). The kernel's strerror(3) texts reach stderr as
// "RTNETLINK answers: File exists", "Error: Could not process rule: No such file or directory" (nft) and the like;
// iproute2 also prints its own messages for a device it cannot resolve, and extended-ack texts from the kernel.
const STDERR_REASONS: ReadonlyArray<readonly [RegExp, FailureReason]> = [
  [/\bFile exists\b/, 'exists'], // strerror(EEXIST)
  [/\balready (?:assigned|exists)\b/i, 'exists'], // extack: "Address already assigned", "... already exists"
  [/\bNo such device\b|\bNo such device or address\b/, 'no-device'], // strerror(ENODEV), strerror(ENXIO)
  [/\bCannot find device\b|Device "[^"]*" does not exist/, 'no-device'], // iproute2's own, ifindex lookup failed
  [/\bNo such file or directory\b|\bNo such process\b/, 'not-found'], // strerror(ENOENT), strerror(ESRCH)
  [/\b0 flow entries have been deleted\b/, 'not-found'], // conntrack -D: nothing matched
  [/\bResource temporarily unavailable\b/, 'again'], // strerror(EAGAIN)
  [/\bDevice or resource busy\b/, 'busy'], // strerror(EBUSY)
  [/\bOperation not permitted\b|\bPermission denied\b/, 'permission'], // strerror(EPERM), strerror(EACCES)
  [/\bInvalid argument\b/, 'invalid'], // strerror(EINVAL)
  [/\bOperation not supported\b|\bProtocol not supported\b|\bAddress family not supported\b/, 'not-supported'],
]

/** The reason a tool's stderr names, or 'other'. */
export function reasonFromStderr(stderr: string): FailureReason {
  for (const [pattern, reason] of STDERR_REASONS) if (pattern.test(stderr)) return reason
  return 'other'
}

/** The reason of a failed command: how it ended first (killed, never started), then what it printed. */
export function classifyFailure(f: { exitCode?: number | undefined; stderr?: string; timedOut?: boolean }): FailureReason {
  if (f.timedOut) return 'timed-out'
  if (f.exitCode === undefined) return 'cannot-run'
  return reasonFromStderr(f.stderr ?? '')
}
