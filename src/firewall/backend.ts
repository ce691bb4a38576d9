// What a firewall backend is: the contract iptables and nftables both implement, and what each is built from.
// (select.ts builds them and chooses one.)
import type { Logger } from '../plugin/log.ts'
import type { Netfilter } from '../system/index.ts'
import type { LockDeps } from './lock.ts'
import type { FirewallIntent, IntentKind, Owner } from './model.ts'

/** The backend names a config may give (`ipMasqBackend`, portmap `backend`). */
export type BackendName = 'iptables' | 'nftables'

/**
 * A firewall backend. Every method applies its changes in one transaction (iptables-restore or nft -f), so a
 * failure leaves nothing half-applied; handles such as binaries and table names live inside the object.
 */
export interface FirewallBackend {
  readonly name: BackendName
  /** Installs the intent; idempotent (a repeated call leaves exactly one copy of each rule). */
  ensure(intent: FirewallIntent): Promise<void>
  /**
   * Installs several intents in one transaction (one per family for iptables, whose families are separate tools),
   * as reconcile restores a node's rules. Optional: fakes and future backends may leave it out (callers then
   * fall back to one ensure per intent).
   */
  ensureAll?(intents: readonly FirewallIntent[]): Promise<void>
  /**
   * Removes everything of this kind owned by `owner`; succeeds when nothing is there. Needs no addresses. `recorded`,
   * the intents the attachment's record holds for this backend, lets it search only their families and delete the
   * rules they made by name (iptables); without it every family is searched.
   */
  remove(kind: IntentKind, owner: Owner, recorded?: readonly FirewallIntent[]): Promise<void>
  /** Throws a CniError naming what is missing when the intent is not fully installed (CHECK). */
  verify(intent: FirewallIntent): Promise<void>
  /** Removes objects of this kind on `network` whose owner is not in `valid` (GC). */
  gc(kind: IntentKind, network: string, valid: readonly Owner[]): Promise<void>
}

/** Everything a backend object needs; handles stay inside the backend, never in method signatures. */
export interface BackendDeps extends LockDeps {
  readonly netfilter: Netfilter
  readonly log: Logger
}

/** Whether each backend's tool is present and works here. */
export interface BackendProbe {
  readonly iptables: boolean
  readonly nftables: boolean
}
