// tuning's part in reconcile: its changes live inside the container's namespace and die with it, so a record asks
// for no host state; the part exists so the record is known (listed by ls, pruned by gc) rather than reported.
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import type { DesiredRule } from '../reconcile/role.ts'

/** tuning's reconcile part (see reconcile/role.ts). */
export const tuningReconcile = {
  role: 'tuning',
  desired: (_record: AttachmentRecord): { rules: DesiredRule[]; problems: string[] } => ({ rules: [], problems: [] }),
}
