// The firewall as roles see it: both backends built over the System, and the choice between them (explicit config,
// else iptables, else nftables).
import type { IpFamily } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import type { BackendDeps, BackendName, BackendProbe, FirewallBackend } from './backend.ts'
import type { IntentKind, Owner } from './model.ts'
import { FIREWALL_LOCK_PATH, FIREWALL_LOCK_TIMEOUT_MS } from './lock.ts'
import { createIptablesBackend } from './iptables.ts'
import { createNftablesBackend } from './nftables.ts'

/**
 * The backend to use: the configured one if any (it is used even when its probe fails, so the error names the
 * real problem), otherwise iptables when usable (the reference's default), else nftables; an error naming both
 * when neither works.
 */
export function selectBackend(configured: BackendName | undefined, probe: BackendProbe): BackendName {
  if (configured) return configured
  if (probe.iptables) return 'iptables'
  if (probe.nftables) return 'nftables'
  throw new CniError(ErrorCode.Internal, 'no usable firewall backend: neither iptables nor nftables works here',
    { details: 'iptables: the nat table cannot be read (binary missing or no kernel support); nft: cannot check a table' })
}

/** The firewall as roles see it. */
export interface Firewall {
  /** The backend for ensure and verify (ADD, CHECK); the choice is logged. */
  select(configured?: BackendName): Promise<FirewallBackend>
  /** Every usable backend, for GC and STATUS: an attachment may have been added under either. */
  usable(): Promise<FirewallBackend[]>
  /**
   * Both backends for DEL, without probing first: a removal that fails is checked against the probe then, and one
   * whose tool is not usable here counts as nothing to remove. Saves DEL the probes (one process each) it almost
   * never needs.
   */
  removable(): FirewallBackend[]
  /** Which tools work here (probed once per Firewall). */
  probe(): Promise<BackendProbe>
}

/** How roles receive the firewall: createFirewall in production, a fake in handler tests. */
export type FirewallFactory = (sys: System, log: Logger) => Firewall

/** Options for createFirewall; the defaults suit a real node. */
export interface FirewallOptions {
  readonly lockPath?: string
  readonly lockTimeoutMs?: number
}

/** Builds the firewall over a System. Probes run lazily, at most once per instance. */
export function createFirewall(sys: System, log: Logger, options: FirewallOptions = {}): Firewall {
  const deps: BackendDeps = {
    netfilter: sys.netfilter,
    locker: sys.locker,
    log,
    lockPath: options.lockPath ?? FIREWALL_LOCK_PATH,
    lockTimeoutMs: options.lockTimeoutMs ?? FIREWALL_LOCK_TIMEOUT_MS,
  }
  // Each tool is probed at most once per verb, and only when a decision needs it.
  const familyProbes: Partial<Record<IpFamily, Promise<boolean>>> = {}
  const familyUsable = (f: IpFamily): Promise<boolean> => (familyProbes[f] ??= sys.netfilter.iptablesUsable(f))
  const usableFamilies = (): Promise<IpFamily[]> => Promise.all([familyUsable(4), familyUsable(6)])
    .then(([v4, v6]) => [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])])
  let nftProbe: Promise<boolean> | undefined
  const nftUsable = (): Promise<boolean> => (nftProbe ??= sys.netfilter.nftUsable())
  const probe = (): Promise<BackendProbe> => Promise.all([familyUsable(4), nftUsable()]).then(([iptables, nftables]) => ({ iptables, nftables }))
  const backends: Record<BackendName, FirewallBackend> = {
    iptables: createIptablesBackend({ ...deps, usableFamilies, familyUsable }),
    nftables: createNftablesBackend(deps),
  }
  return {
    probe,
    async select(configured) {
      // IPv4 iptables alone decides the automatic choice; nft is probed only without it, ip6tables never here.
      const name = configured ?? ((await familyUsable(4)) ? 'iptables' : selectBackend(undefined, await probe()))
      log.debug(`firewall backend: ${name}${configured ? ' (configured)' : ' (detected)'}`)
      return backends[name]
    },
    async usable() {
      const p = await probe()
      return (['iptables', 'nftables'] as const).filter((n) => p[n]).map((n) => backends[n])
    },
    removable() {
      const usable = { iptables: () => familyUsable(4), nftables: nftUsable }
      return (['iptables', 'nftables'] as const).map((name) => ({
        ...backends[name],
        remove: (kind: IntentKind, owner: Owner) => backends[name].remove(kind, owner).catch(async (err: unknown) => {
          if (await usable[name]()) throw err
          log.debug(`${name} is not usable here: nothing of it to remove`)
        }),
      }))
    },
  }
}
