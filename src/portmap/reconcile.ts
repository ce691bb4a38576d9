// portmap's part in reconcile: a portmap record's host-port intent, and the node-wide loopback drop it relied on.
import { rulesOfRecord, type RecordedRule } from '../firewall/recorded-desired.ts'
import { LOCALNET_DROP } from '../firewall/model.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'

/**
 * The record's rules plus, for every recorded intent that set route_localnet (snat with an IPv4 container address),
 * the loopback drop through the same backend. Derived rather than recorded, so records written before the drop
 * existed get it restored too; the planner keeps one per backend.
 */
function desired(record: AttachmentRecord): { rules: RecordedRule[]; problems: string[] } {
  const { rules, problems } = rulesOfRecord(record.rules)
  const drops = rules.flatMap((r): RecordedRule[] =>
    r.kind === 'firewall' && r.intent.kind === 'portmap' && r.intent.snat && r.intent.containerV4 ? [{ kind: 'firewall', backend: r.backend, intent: LOCALNET_DROP }] : [])
  return { rules: [...rules, ...drops], problems }
}

/** portmap's reconcile part (see reconcile/role.ts). */
export const portmapReconcile = { role: 'portmap', desired }
