// The bridge's part in reconcile: a bridge record's masquerade intent and MAC spoof check.
import { rulesOfRecord } from '../firewall/recorded-desired.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'

/** The bridge's reconcile part (see reconcile/role.ts). */
export const bridgeReconcile = {
  role: 'bridge',
  desired: (record: AttachmentRecord) => rulesOfRecord(record.rules),
}
