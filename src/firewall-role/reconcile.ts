// The firewall role's part in reconcile: a firewall record's accept and isolation intents.
import { rulesOfRecord } from '../firewall/recorded-desired.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'

/** The firewall role's reconcile part (see reconcile/role.ts). */
export const firewallReconcile = {
  role: 'firewall',
  desired: (record: AttachmentRecord) => rulesOfRecord(record.rules),
}
