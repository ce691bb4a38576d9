// The contract between reconcile and each role that owns node state: from one of the role's attachment records,
// the rules that attachment should have. A new role (the node agent's cluster rules) implements this
// and is listed in reconcile/roles.ts; the pass then restores its rules with everyone else's.
import type { RecordedRule } from '../firewall/recorded-desired.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import type { DnsAccessRule, DnsServerRule } from '../dns/reconcile.ts'

/**
 * One rule an attachment should have. Firewall intents are grouped per backend and ensured through that
 * backend (idempotent); a spoof check is checked and set up through nft. A role with another kind of state adds a
 * variant here and its presence check and apply step in reconcile/apply.ts.
 */
export type DesiredRule = RecordedRule | DnsAccessRule | DnsServerRule

/** What a role reads from its records. Pure: no system access. */
export interface ReconcileRole {
  /** The `role` field of the records this part reads ("bridge", "portmap", "dnsname"...). */
  readonly role: string
  /** The rules the record's attachment should have; problems name what in the record could not be read. */
  desired(record: AttachmentRecord): { rules: DesiredRule[]; problems: string[] }
}
