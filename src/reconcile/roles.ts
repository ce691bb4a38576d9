// Every role that plugs into reconcile. A new role adds its part here.
import { dnsReconcile } from '../dns/reconcile.ts'
import { recordedRulesRole } from '../firewall/recorded-desired.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import type { ReconcileRole } from './role.ts'

/**
 * The part of a role that keeps no host state reconcile could restore: tuning's changes live in the container's
 * namespace and die with it; bandwidth's qdiscs live and die with the host veth and the ifb (CHECK reports a
 * missing one, the runtime's next ADD sets it up again). Its records are still known: listed by ls, released by
 * reconcile through the role's own DEL when the namespace is gone, pruned by gc.
 */
function noHostStateRole(role: string): ReconcileRole {
  return { role, desired: (_record: AttachmentRecord) => ({ rules: [], problems: [] }) }
}

/** The roles whose records reconcile reads. */
export const RECONCILE_ROLES: readonly ReconcileRole[] = [
  recordedRulesRole('bridge'), recordedRulesRole('portmap'), dnsReconcile, noHostStateRole('tuning'), noHostStateRole('bandwidth'),
  recordedRulesRole('firewall'),
]
