// The firewall seam as the bridge sees it: pick a backend for ADD/CHECK, or every usable one for DEL and GC.
import type { BackendName, FirewallBackend } from '../firewall/backend.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'

/** The firewall backends available to one invocation. */
export interface Firewalls {
  /** The backend for installing or verifying: the configured one, otherwise the probe's choice. */
  select(configured?: BackendName): Promise<FirewallBackend>
  /** Every backend whose tool works here: DEL and GC clean all of them (the pod may predate a backend switch). */
  usable(): Promise<FirewallBackend[]>
}

/** Builds the firewall backends for one invocation (firewall/select.ts createFirewall; tests pass fakes). */
export type FirewallFactory = (sys: System, log: Logger) => Firewalls
