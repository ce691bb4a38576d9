// The firewall seam as the bridge sees it: pick a backend for ADD/CHECK, or every usable one for DEL and GC.
import type { BackendName, FirewallBackend } from '../firewall/backend.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'

/** The firewall backends available to one invocation. */
export interface Firewalls {
  /** The backend for installing or verifying: the configured one, otherwise the probe's choice. */
  select(configured?: BackendName): Promise<FirewallBackend>
  /** Every backend whose tool works here: DEL and GC clean all of them (the pod may predate a backend switch). */
  usable(): Promise<FirewallBackend[]>
}

/** Builds the firewall backends for one invocation. */
export type FirewallFactory = (sys: System, log: Logger) => Firewalls

/** Used when this build has no firewall layer: ipMasq cannot be set up, and there is nothing to clean. */
export const noFirewall: FirewallFactory = () => ({
  async select() {
    throw new CniError(ErrorCode.NotAvailable, 'ipMasq needs a firewall backend (iptables or nftables), and this build of tscni has none')
  },
  async usable() {
    return []
  },
})
