// Every role that plugs into reconcile. A new role adds its part here.
import { dnsReconcile } from '../dns/reconcile.ts'
import { recordedRulesRole } from '../firewall/recorded-desired.ts'
import type { ReconcileRole } from './role.ts'

/** The roles whose records reconcile reads. */
export const RECONCILE_ROLES: readonly ReconcileRole[] = [recordedRulesRole('bridge'), recordedRulesRole('portmap'), dnsReconcile]
