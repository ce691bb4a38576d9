// The firewall as roles see it: both backends built over the System, and the choice between them (explicit config,
// else iptables, else nftables).
import type { IpFamily } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import type { BackendDeps, BackendName, BackendProbe, FirewallBackend } from './backend.ts'
import type { FirewallIntent, IntentKind, Owner } from './model.ts'
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
  /**
   * The backend for ensure and verify (ADD, CHECK); the choice is logged. Without a configured one it is iptables
   * until a call fails and a probe then shows iptables unusable here: that call and the rest go to nftables.
   */
  select(configured?: BackendName): Promise<FirewallBackend>
  /** Every usable backend, for GC and STATUS: an attachment may have been added under either. */
  usable(): Promise<FirewallBackend[]>
  /**
   * Both backends for DEL (or `only` those, when the attachment's record names them), without probing first: a
   * removal that fails is checked against the probe then, and one whose tool is not usable here counts as nothing
   * to remove. Saves DEL the probes (one process each) it almost never needs.
   */
  removable(only?: readonly BackendName[]): FirewallBackend[]
  /** Which tools work here (probed once per Firewall). */
  probe(): Promise<BackendProbe>
}

/** How roles receive the firewall: createFirewall in production, a fake in handler tests. */
export type FirewallFactory = (sys: System, log: Logger) => Firewall

// iptables until a call fails and `fallback` names another backend (undefined: iptables works, the error stands).
function automatic(backends: Record<BackendName, FirewallBackend>, fallback: () => Promise<FirewallBackend | undefined>): FirewallBackend {
  let current = backends.iptables
  const attempt = async <T>(call: (b: FirewallBackend) => Promise<T>): Promise<T> => {
    try {
      return await call(current)
    } catch (err) {
      if (current !== backends.iptables) throw err
      const other = await fallback()
      if (!other) throw err
      current = other
      return call(current)
    }
  }
  return {
    get name() {
      return current.name
    },
    ensure: (intent) => attempt((b) => b.ensure(intent)),
    ensureAll: (intents) => attempt((b) => (b.ensureAll ? b.ensureAll(intents) : Promise.all(intents.map((i) => b.ensure(i))).then(() => undefined))),
    remove: (kind, owner, recorded) => attempt((b) => b.remove(kind, owner, recorded)),
    verify: (intent) => attempt((b) => b.verify(intent)),
    gc: (kind, network, valid) => attempt((b) => b.gc(kind, network, valid)),
  }
}

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
      if (configured) {
        log.debug(`firewall backend: ${configured} (configured)`)
        return backends[configured]
      }
      // The automatic choice without a probe process on the common path: iptables is used, and only when one of its
      // calls fails is IPv4 iptables probed; if it is unusable, nftables (when usable) takes that call and the next.
      // The same choice as probing first (selectBackend), one process (3 ms or more) less per ADD and CHECK.
      log.debug('firewall backend: iptables (automatic; nftables if iptables proves unusable here)')
      return automatic(backends, async () => {
        if (await familyUsable(4)) return undefined
        const name = selectBackend(undefined, await probe())
        log.debug(`firewall backend: ${name} (iptables is not usable here)`)
        return backends[name]
      })
    },
    async usable() {
      const p = await probe()
      return (['iptables', 'nftables'] as const).filter((n) => p[n]).map((n) => backends[n])
    },
    removable(only) {
      const usable = { iptables: () => familyUsable(4), nftables: nftUsable }
      return (['iptables', 'nftables'] as const).filter((name) => !only || only.includes(name)).map((name) => ({
        ...backends[name],
        remove: (kind: IntentKind, owner: Owner, recorded?: readonly FirewallIntent[]) => backends[name].remove(kind, owner, recorded).catch(async (err: unknown) => {
          if (await usable[name]()) throw err
          log.debug(`${name} is not usable here: nothing of it to remove`)
        }),
      }))
    },
  }
}
