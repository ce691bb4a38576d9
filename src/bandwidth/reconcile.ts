// bandwidth's part in reconcile: its record is known (listed by ls, released by reconcile's DEL, pruned by gc); the
// qdiscs themselves are not restored by reconcile (they live and die with the host veth and the ifb): CHECK reports
// a missing one, and the runtime's next ADD sets them up again.
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import type { DesiredRule } from '../reconcile/role.ts'

/** bandwidth's reconcile part (see reconcile/role.ts). */
export const bandwidthReconcile = {
  role: 'bandwidth',
  desired: (_record: AttachmentRecord): { rules: DesiredRule[]; problems: string[] } => ({ rules: [], problems: [] }),
}
