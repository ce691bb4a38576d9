// Every role that plugs into reconcile. A new role adds its part here.
import { bridgeReconcile } from '../bridge/reconcile.ts'
import { dnsReconcile } from '../dns/reconcile.ts'
import { portmapReconcile } from '../portmap/reconcile.ts'
import { tuningReconcile } from '../tuning/reconcile.ts'
import { firewallReconcile } from '../firewall-role/reconcile.ts'
import type { ReconcileRole } from './role.ts'

/** The roles whose records reconcile reads. */
export const RECONCILE_ROLES: readonly ReconcileRole[] = [bridgeReconcile, portmapReconcile, dnsReconcile, tuningReconcile, firewallReconcile]
