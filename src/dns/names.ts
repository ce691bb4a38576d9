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
  /** Set for a pod with a namespace: names[1] is its bare name, published only if free (bareNameTaken). */
  readonly pod?: { readonly name: string; readonly namespace: string }
}

/** Where a candidate name came from, for the log message. */
export interface NameCandidate {
  readonly name: string
  readonly source: string
}

/** A Kubernetes pod's identity from CNI_ARGS (K8S_POD_NAME, K8S_POD_NAMESPACE); podman passes the name only. */
export interface PodIdentity {
  readonly name?: string | undefined
  readonly namespace?: string | undefined
}

/**
 * The names of an attachment in answer order (the first is what PTR returns): the pod name (`K8S_POD_NAME`), the
 * aliases, then the 12-character short container id, as dnsname and podman publish them. Names are lower-cased;
 * anything that is not a single valid label is refused, never written; duplicates are dropped.
 *
 * With `K8S_POD_NAMESPACE` the pod is first published as `<pod>.<namespace>`, which no pod of another namespace
 * can claim, and then by its bare name, which stays first-come: pods of two namespaces on one network would
 * otherwise share `db` round-robin, so the caller drops the bare name when another namespace holds it.
 */
export function attachmentNames(pod: PodIdentity, aliases: readonly string[], containerId: string): AttachmentNames {
  const refused: NameCandidate[] = []
  const podName = pod.name?.toLowerCase()
  let namespace = pod.namespace ? pod.namespace.toLowerCase() : undefined
  if (namespace !== undefined && !isValidLabel(namespace)) {
    refused.push({ name: pod.namespace!, source: 'K8S_POD_NAMESPACE' })
    namespace = undefined
  }
  const qualified = podName && namespace && isValidLabel(podName) ? { name: podName, namespace } : undefined
  const candidates: NameCandidate[] = [
    ...(pod.name ? [{ name: pod.name, source: 'K8S_POD_NAME' }] : []),
    ...aliases.map((name) => ({ name, source: 'alias' })),
    ...(containerId ? [{ name: containerId.slice(0, 12), source: 'short container id' }] : []),
  ]
  const names: string[] = qualified ? [`${qualified.name}.${qualified.namespace}`] : []
  for (const c of candidates) {
    const lower = c.name.toLowerCase()
    if (!isValidLabel(lower)) refused.push(c)
    else if (!names.includes(lower)) names.push(lower)
  }
  return { names, refused, ...(qualified ? { pod: qualified } : {}) }
}

/**
 * True when another attachment's hosts file (`others`, their texts) publishes the bare `pod` name without being a
 * pod of `namespace` (it lacks `<pod>.<namespace>`): a pod of another namespace, or a container with that name or
 * alias, was there first.
 */
export function bareNameTaken(pod: { readonly name: string; readonly namespace: string }, others: readonly string[]): boolean {
  const own = `${pod.name}.${pod.namespace}`
  return others.some((text) => publishes(text, pod.name) && !publishes(text, own))
}

/** True when a hosts file's text publishes `name` (bare, as written after the address). */
export function publishes(text: string, name: string): boolean {
  return text.split('\n').some((line) => line.trim().split(/\s+/).slice(1).includes(name))
}

/** Printable form of a refused name for a log line: quoted, control characters escaped, cut at 80 characters. */
export function showName(name: string): string {
  const text = JSON.stringify(name)
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text
}
