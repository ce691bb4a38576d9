// The firewall state an attachment owns as kept in its record: intents as plain JSON (addresses as "ip/prefix"
// text, with the backend they went through) and the MAC spoof check, and the way back, validated.
import { formatCidr, parseCidr, type IpNet } from '../plugin/addr.ts'
import type { BackendName } from './backend.ts'
import { LOCALNET_DROP, type FirewallIntent, type PortmapIntent, type SpoofCheck } from './model.ts'
import { forwardIntentFromJson } from './forward-json.ts'

/** A recorded intent with the backend it was installed through. */
export interface RecordedIntent {
  readonly backend: BackendName
  readonly intent: FirewallIntent
}

/** An intent as JSON: the same fields, with addresses as CIDR text. */
export function intentToJson(recorded: RecordedIntent): unknown {
  const i = recorded.intent
  const body = i.kind === 'localnet-drop'
    ? { ...i }
    : i.kind === 'masquerade' || i.kind === 'forward-accept'
    ? { ...i, addresses: i.addresses.map(formatCidr) }
    : i.kind === 'isolation' ? i : { ...i, ...(i.containerV4 ? { containerV4: formatCidr(i.containerV4) } : {}), ...(i.containerV6 ? { containerV6: formatCidr(i.containerV6) } : {}) }
  return { backend: recorded.backend, intent: body }
}

/** Reads an intent written by intentToJson; a string says what is wrong with it. */
export function intentFromJson(json: unknown): RecordedIntent | string {
  const doc = json as { backend?: unknown; intent?: Record<string, unknown> } | null
  if (!doc || (doc.backend !== 'iptables' && doc.backend !== 'nftables') || typeof doc.intent !== 'object' || doc.intent === null) return 'not a recorded firewall intent'
  const i = doc.intent
  if (i.kind === 'localnet-drop') return { backend: doc.backend, intent: LOCALNET_DROP }
  const owner = i.owner as Record<string, unknown> | undefined
  if (!owner || typeof owner.network !== 'string' || typeof owner.containerId !== 'string' || typeof owner.ifname !== 'string') return 'intent without an owner'
  const net = (v: unknown): IpNet | undefined => (typeof v === 'string' ? parseCidr(v) : undefined)
  if (i.kind === 'masquerade') {
    const addresses = Array.isArray(i.addresses) ? i.addresses.map(net) : []
    if (addresses.length === 0 || addresses.some((a) => a === undefined)) return 'masquerade intent without valid addresses'
    return { backend: doc.backend, intent: { kind: 'masquerade', owner: owner as never, addresses: addresses as IpNet[] } }
  }
  if (i.kind === 'portmap') {
    const v4 = net(i.containerV4)
    const v6 = net(i.containerV6)
    if (!v4 && !v6) return 'portmap intent without a container address'
    if (!Array.isArray(i.mappings)) return 'portmap intent without mappings'
    const { containerV4: _v4, containerV6: _v6, ...rest } = i
    const intent = { ...rest, ...(v4 ? { containerV4: v4 } : {}), ...(v6 ? { containerV6: v6 } : {}) } as unknown as PortmapIntent
    return { backend: doc.backend, intent }
  }
  const forward = forwardIntentFromJson(i, owner as never)
  if (forward !== undefined) return typeof forward === 'string' ? forward : { backend: doc.backend, intent: forward }
  return `unknown intent kind ${JSON.stringify(i.kind)}`
}

/** Reads a recorded spoof check; a string says what is wrong with it. */
export function spoofCheckFromJson(json: unknown): SpoofCheck | string {
  const sc = json as Record<string, unknown> | null
  if (!sc || typeof sc.hostVeth !== 'string' || typeof sc.mac !== 'string' || typeof sc.refId !== 'string') return 'not a recorded spoof check'
  return { hostVeth: sc.hostVeth, mac: sc.mac, refId: sc.refId }
}

/** The `rules` of a bridge or portmap record. */
export interface RecordedRules {
  readonly firewall: readonly unknown[]
  readonly spoofCheck?: SpoofCheck
}

/** The rules as written by `recordedRules`. */
export function recordedRules(firewall: readonly RecordedIntent[], spoofCheck?: SpoofCheck): RecordedRules {
  return { firewall: firewall.map(intentToJson), ...(spoofCheck ? { spoofCheck } : {}) }
}

/**
 * An attachment's recorded intents of `kind`, from its record's rules: DEL then removes from the backends they name
 * alone instead of every backend (one tool listing less, ~10 ms), and flushes conntrack only in their families.
 * Undefined when the record cannot say (absent, partly unreadable): then DEL assumes nothing, as without records.
 */
export function recordedIntents(rules: unknown, kind: FirewallIntent['kind']): RecordedIntent[] | undefined {
  if (rules === undefined) return undefined
  const parsed = parseRecordedRules(rules)
  if (parsed.problems.length > 0) return undefined
  return parsed.firewall.filter((r) => r.intent.kind === kind)
}

/** The recorded intents one backend installed (what DEL hands that backend's remove); undefined stays undefined. */
export function intentsFor(intents: readonly RecordedIntent[] | undefined, backend: BackendName): FirewallIntent[] | undefined {
  return intents?.filter((r) => r.backend === backend).map((r) => r.intent)
}

/** The backends of recorded intents (undefined stays undefined: every backend). */
export function backendsOf(intents: readonly RecordedIntent[] | undefined): BackendName[] | undefined {
  return intents && [...new Set(intents.map((r) => r.backend))]
}

/** Reads a record's rules back; problems name what could not be read (the rest is still usable). */
export function parseRecordedRules(json: unknown): { firewall: RecordedIntent[]; spoofCheck?: SpoofCheck; problems: string[] } {
  const doc = (json ?? {}) as { firewall?: unknown; spoofCheck?: unknown }
  const problems: string[] = []
  const firewall: RecordedIntent[] = []
  for (const entry of Array.isArray(doc.firewall) ? doc.firewall : []) {
    const parsed = intentFromJson(entry)
    if (typeof parsed === 'string') problems.push(parsed)
    else firewall.push(parsed)
  }
  let spoofCheck: SpoofCheck | undefined
  if (doc.spoofCheck !== undefined) {
    const sc = spoofCheckFromJson(doc.spoofCheck)
    if (typeof sc === 'string') problems.push(sc)
    else spoofCheck = sc
  }
  return { firewall, ...(spoofCheck ? { spoofCheck } : {}), problems }
}
