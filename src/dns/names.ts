// Which names an attachment gets, and the RFC 1123 rules that keep runtime-supplied names from becoming syntax (pure).

// RFC 1123 section 2.1 host name labels: letters, digits and inner hyphens, 1 to 63 characters (RFC 1035 2.3.4).
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** True for one lower-case DNS label (no dots). */
export function isValidLabel(name: string): boolean {
  return LABEL.test(name)
}

/** True for a domain of valid labels, at most 253 characters (RFC 1035 2.3.4); one trailing dot allowed. */
export function isValidDomain(domain: string): boolean {
  const name = domain.endsWith('.') ? domain.slice(0, -1) : domain
  return name.length > 0 && name.length <= 253 && name.split('.').every(isValidLabel)
}

/** Names of one attachment, and what was refused with the reason (for the log). */
export interface AttachmentNames {
  readonly names: string[]
  readonly refused: Array<{ readonly name: string; readonly source: string }>
}

/** Where a candidate name came from, for the log message. */
export interface NameCandidate {
  readonly name: string
  readonly source: string
}

/**
 * The names of an attachment in answer order (the first is what PTR returns): the pod name (`K8S_POD_NAME`), the
 * aliases, then the 12-character short container id, as dnsname and podman publish them. Names are lower-cased;
 * anything that is not a single valid label is refused, never written; duplicates are dropped.
 */
export function attachmentNames(podName: string | undefined, aliases: readonly string[], containerId: string): AttachmentNames {
  const candidates: NameCandidate[] = [
    ...(podName ? [{ name: podName, source: 'K8S_POD_NAME' }] : []),
    ...aliases.map((name) => ({ name, source: 'alias' })),
    ...(containerId ? [{ name: containerId.slice(0, 12), source: 'short container id' }] : []),
  ]
  const names: string[] = []
  const refused: NameCandidate[] = []
  for (const c of candidates) {
    const lower = c.name.toLowerCase()
    if (!isValidLabel(lower)) refused.push(c)
    else if (!names.includes(lower)) names.push(lower)
  }
  return { names, refused }
}

/** Printable form of a refused name for a log line: quoted, control characters escaped, cut at 80 characters. */
export function showName(name: string): string {
  const text = JSON.stringify(name)
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text
}
