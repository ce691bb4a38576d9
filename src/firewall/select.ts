// The firewall as roles see it: both backends built over the System, and the choice between them (explicit config,
// else iptables, else nftables).
import type { IpFamily } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import type { BackendDeps, BackendName, BackendProbe, FirewallBackend } from './backend.ts'
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
  /** Every usable backend, for DEL and GC: an attachment may have been added under either. */
  usable(): Promise<FirewallBackend[]>
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
  let families: Promise<IpFamily[]> | undefined
  const usableFamilies = (): Promise<IpFamily[]> => (families ??= Promise.all([
    sys.netfilter.iptablesUsable(4),
    sys.netfilter.iptablesUsable(6),
  ]).then(([v4, v6]) => [...(v4 ? [4 as const] : []), ...(v6 ? [6 as const] : [])]))
  let probed: Promise<BackendProbe> | undefined
  const probe = (): Promise<BackendProbe> => (probed ??= Promise.all([usableFamilies(), sys.netfilter.nftUsable()])
    .then(([fams, nft]) => ({ iptables: fams.includes(4), nftables: nft })))
  const backends: Record<BackendName, FirewallBackend> = {
    iptables: createIptablesBackend({ ...deps, usableFamilies }),
    nftables: createNftablesBackend(deps),
  }
  return {
    probe,
    async select(configured) {
      // iptables usable decides the automatic choice alone; nft is probed (~9 ms: nft --check) only without it.
      const name = configured ?? ((await usableFamilies()).includes(4) ? 'iptables' : selectBackend(undefined, await probe()))
      log.debug(`firewall backend: ${name}${configured ? ' (configured)' : ' (detected)'}`)
      return backends[name]
    },
    async usable() {
      const p = await probe()
      return (['iptables', 'nftables'] as const).filter((n) => p[n]).map((n) => backends[n])
    },
  }
}
