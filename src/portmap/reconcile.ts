// portmap's part in reconcile: a portmap record's host-port intent.
import { rulesOfRecord } from '../firewall/recorded-desired.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'

/** portmap's reconcile part (see reconcile/role.ts). */
export const portmapReconcile = {
  role: 'portmap',
  desired: (record: AttachmentRecord) => rulesOfRecord(record.rules),
}
