// The iptables backend: one iptables-restore script per family, under a lock. ADD and DEL of one attachment first try
// a script that reads nothing or one chain (iptables-targeted.ts); the full path reads the whole nat table.
import type { IpFamily } from '../plugin/addr.ts'
import type { BackendDeps, FirewallBackend } from './backend.ts'
import { familiesOfIntents, intentFamilies, type FirewallIntent, type IntentKind, type MasqIntent, type Owner, type PortmapIntent } from './model.ts'
import { normalizeError } from '../plugin/errors.ts'
import { missingRulesError } from './errors.ts'
import { locked } from './lock.ts'
import { applyWithRetry } from './retry.ts'
import { parseChainListing, parseSave, type NatState } from './iptables-save.ts'
import { entryChainOf, renderExactRemove, renderMasqFast, renderPortmapFast, renderTargetedRemove } from './iptables-targeted.ts'
import { createIptablesForward, isForwardIntent, isForwardKind } from './iptables-forward-ops.ts'
import { mergeScripts, missingRules, renderGc, renderMasqEnsure, renderPortmapEnsure, renderRemove } from './iptables-render.ts'
import { iptablesLocalnet } from './localnet.ts'

/** The iptables backend's dependencies: the shared ones plus which families (iptables, ip6tables) work here. */
export interface IptablesDeps extends BackendDeps {
  usableFamilies(): Promise<readonly IpFamily[]>
  /** Whether one family's tool works here (probed once). */
  familyUsable(family: IpFamily): Promise<boolean>
}

/** Builds the backend. Every method runs at most one iptables-restore per family (plus one retry on a race). */
export function createIptablesBackend(deps: IptablesDeps): FirewallBackend {
  const read = async (family: IpFamily): Promise<NatState> => parseSave(await deps.netfilter.save(family, 'nat'))
  const tool = (family: IpFamily): string => (family === 4 ? 'iptables-restore' : 'ip6tables-restore')
  const run = (family: IpFamily, render: (state: NatState) => string): Promise<void> =>
    applyWithRetry(tool(family), async () => render(await read(family)), (s) => deps.netfilter.restore(family, s), deps.log)
  // A script that assumes the table's shape: true when applied, false when the table was not as it assumed (or the
  // tool failed), in which case nothing was applied and the full path decides.
  const attempt = async (family: IpFamily, script: string): Promise<boolean> => {
    if (script === '') return true
    try {
      await deps.netfilter.restore(family, script)
      return true
    } catch (err) {
      deps.log.debug(`${tool(family)} without a save did not apply, reading the nat table: ${normalizeError(err).message}`)
      return false
    }
  }
  // DEL from the entry chain alone: the save of a node's nat table grows with every attachment on it.
  const removeTargeted = async (family: IpFamily, kind: IntentKind, owner: Owner): Promise<boolean> => {
    let listing: string
    try {
      listing = await deps.netfilter.listChain(family, 'nat', entryChainOf(kind))
    } catch {
      // No such chain, or a tool that does not work here: the full path decides (and probes the family if needed).
      return false
    }
    const script = renderTargetedRemove(kind, owner, parseChainListing(listing).rules)
    return script !== undefined && attempt(family, script)
  }

  // The node-wide loopback drop (raw table): no owner, no nat table.
  const localnet = iptablesLocalnet(deps)
  // The firewall role's kinds live in the filter table (iptables-forward-ops.ts).
  const forward = createIptablesForward(deps)

  return {
    name: 'iptables',
    ensure(intent) {
      if (intent.kind === 'localnet-drop') return locked(deps, localnet.ensure)
      if (isForwardIntent(intent)) return locked(deps, () => forward.ensure(intent))
      return locked(deps, async () => {
        for (const family of intentFamilies(intent)) {
          // A new owner on a set-up node (the common ADD) needs no save; a repeated ADD or a first one falls back.
          if (await attempt(family, intent.kind === 'masquerade' ? renderMasqFast(intent, family) : renderPortmapFast(intent, family))) continue
          await run(family, (state) => intent.kind === 'masquerade' ? renderMasqEnsure(intent, family, state) : renderPortmapEnsure(intent, family, state))
        }
      })
    },
    ensureAll(all) {
      const intents = all.filter((i): i is MasqIntent | PortmapIntent => i.kind === 'masquerade' || i.kind === 'portmap')
      return locked(deps, async () => {
        if (all.some((i) => i.kind === 'localnet-drop')) await localnet.ensure()
        await forward.ensureAll(all.filter(isForwardIntent))
        for (const family of [4, 6] as const) {
          const mine = intents.filter((i) => intentFamilies(i).includes(family))
          if (mine.length === 0) continue
          await run(family, (state) => mergeScripts(mine.map((i) => (i.kind === 'masquerade' ? renderMasqEnsure(i, family, state) : renderPortmapEnsure(i, family, state)))))
        }
      })
    },
    // Both families without probing first: a family whose tool does not work here fails its save, and only then is
    // it probed; unusable, it holds nothing to remove. The full path runs only when the targeted one found nothing
    // to do or could not apply (DEL twice, a family without the owner, a chain left by a crash, someone's own jump).
    remove(kind: IntentKind, owner: Owner, recorded?: readonly FirewallIntent[]) {
      if (kind === 'localnet-drop') return locked(deps, localnet.remove)
      if (isForwardKind(kind)) return locked(deps, () => forward.remove(kind, recorded))
      const mine = recorded?.filter((i): i is MasqIntent | PortmapIntent => i.kind === kind)
      const families = mine ? familiesOfIntents(mine) : ([4, 6] as const)
      return locked(deps, async () => {
        for (const family of families) {
          // The recorded rules by name first (reads nothing), then the entry chain, then the whole table.
          if (mine?.length === 1 && (await attempt(family, renderExactRemove(mine[0]!, family)))) continue
          if (await removeTargeted(family, kind, owner)) continue
          await run(family, (state) => renderRemove(kind, owner, state)).catch(async (err: unknown) => {
            if (await deps.familyUsable(family)) throw err
          })
        }
      })
    },
    gc(kind: IntentKind, network: string, valid: readonly Owner[]) {
      if (kind === 'localnet-drop') return Promise.resolve() // node-wide: no owner to collect
      // The firewall role's rules name no owner (they are the reference's): its GC works from its records.
      if (isForwardKind(kind)) return Promise.resolve()
      return locked(deps, async () => {
        for (const family of await deps.usableFamilies()) await run(family, (state) => renderGc(kind, network, valid, state))
      })
    },
    async verify(intent) {
      if (intent.kind === 'localnet-drop') {
        const gone = (await localnet.missing()).map((l) => `iptables: ${l}`)
        if (gone.length > 0) throw missingRulesError(intent, '', gone)
        return
      }
      if (isForwardIntent(intent)) return forward.verify(intent)
      const missing: string[] = []
      for (const family of intentFamilies(intent)) {
        for (const line of missingRules(intent, family, await read(family))) missing.push(`${family === 4 ? 'iptables' : 'ip6tables'}: ${line}`)
      }
      if (missing.length > 0) throw missingRulesError(intent, '', missing)
    },
  }
}
