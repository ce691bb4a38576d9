// Whether a directory the DNS role keeps files in can be trusted: the rule behind every directory check (pure).

/** What of a directory's lstat(2) the rule reads. */
export interface DirFacts {
  readonly uid: number
  readonly mode: number
  isDirectory(): boolean
  isSymbolicLink(): boolean
}

/**
 * Why a directory must not hold the DNS server's files, or undefined when it may: a symbolic link (its target is
 * someone else's choice), not a directory, owned by an account other than `trustedUids`, or writable by group or
 * others (they could rename or replace what dnsmasq reads, or plant links in it).
 */
export function untrustedDir(st: DirFacts, trustedUids: readonly number[]): string | undefined {
  if (st.isSymbolicLink()) return 'it is a symbolic link'
  if (!st.isDirectory()) return 'it is not a directory'
  if (!trustedUids.includes(st.uid)) return `it is owned by uid ${st.uid}, not root`
  if ((st.mode & 0o022) !== 0) return `it is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`
  return undefined
}
