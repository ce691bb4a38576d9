// The nftables backend: list what is needed, render one nft script, apply it with one `nft -f -`, under a lock.
import type { BackendDeps, FirewallBackend } from './backend.ts'
import type { FirewallIntent, IntentKind, MasqIntent, Owner, PortmapIntent } from './model.ts'
import { applyError, missingRulesError } from './errors.ts'
import { locked } from './lock.ts'
import { applyWithRetry } from './retry.ts'
import { EMPTY_LISTING, jumpTarget, parseNftList, type NftListing } from './nft-json.ts'
import { isForwardIntent, isForwardKind } from './iptables-forward-ops.ts'
import { createNftForward } from './nft-forward-ops.ts'
import { MASQ_TABLE, missingNftMasq, renderNftMasqEnsure, renderNftMasqGc, renderNftMasqRemove } from './nft-masq.ts'
import {
  bucketChain, HOSTPORT_TABLE, intentBuckets, jumpsTo, missingPortmap, ownerChain, ownerChainMatches, renderOwner, renderRemoveChains, renderSetup, staleOwnerChains,
} from './nft-portmap.ts'
import { nftLocalnet } from './localnet.ts'
import { renderNftLocalnetEnsure } from './nft-localnet.ts'

/** Builds the backend. */
export function createNftablesBackend(deps: BackendDeps): FirewallBackend {
  const list = async (...what: string[]): Promise<NftListing> => {
    const json = await deps.netfilter.nftList(what)
    return json === undefined ? EMPTY_LISTING : parseNftList(json)
  }
  const table = (t: string): string[] => ['table', ...t.split(' ')]
  const chain = (t: string, c: string): string[] => ['chain', ...t.split(' '), c]
  const apply = (s: string): Promise<void> => deps.netfilter.nftApply(s)
  const run = (render: () => Promise<string>): Promise<void> => applyWithRetry('nft -f', render, apply, deps.log)

  // The masquerade layout is the reference's: its one chain holds every owner's rules, so it is listed whole.
  const masq = {
    ensure: (i: MasqIntent) => run(async () => renderNftMasqEnsure(i, await list(...table(MASQ_TABLE)))),
    remove: (o: Owner) => run(async () => renderNftMasqRemove(o, await list(...chain(MASQ_TABLE, 'masq_checks')))),
    gc: (net: string, valid: readonly Owner[]) => run(async () => renderNftMasqGc(net, valid, await list(...chain(MASQ_TABLE, 'masq_checks')))),
  }

  const portmap = {
    async ensure(intent: PortmapIntent): Promise<void> {
      // Fast path, the common ADD: a new owner's chain ("create" fails if it exists), rules and dispatch jump, with
      // no listing at all, so its cost does not grow with the number of other owners. It fails, applying nothing,
      // when the owner exists already or a shared object (table, dispatch chain, mark chain) is missing.
      try {
        await apply(`${renderOwner(intent, false).join('\n')}\n`)
        return
      } catch (err) {
        deps.log.debug(`nft fast path failed, reading ${HOSTPORT_TABLE}: ${(err as Error).message}`)
      }
      const own = await deps.netfilter.nftList(chain(HOSTPORT_TABLE, ownerChain(intent.owner)))
      const current = own === undefined ? undefined : parseNftList(own)
      if (current && ownerChainMatches(intent, current)) return
      const all = await list(...table(HOSTPORT_TABLE))
      const setup = renderSetup(intent.snat ? intent.markMasqBit : undefined, all)
      const full = `${[...setup, ...renderOwner(intent, current !== undefined, all)].join('\n')}\n`
      try {
        await apply(full)
      } catch (err) {
        throw applyError('nft -f', full, err)
      }
    },
    // Lists only the buckets of the recorded ports (then the owner-hash bucket of owners added before per-port
    // buckets); without them there is no table, so nothing to remove. No jump found there: the chain alone is
    // removed, and if a jump elsewhere makes that fail, the retry reads the whole table.
    remove(owner: Owner, recorded?: readonly FirewallIntent[]) {
      let first = true
      return run(async () => {
        const chainName = ownerChain(owner)
        if (!first) {
          const all = await list(...table(HOSTPORT_TABLE))
          return all.chains.size === 0 ? '' : renderRemoveChains([chainName], all)
        }
        first = false
        const ports = (recorded ?? []).filter((i): i is PortmapIntent => i.kind === 'portmap')
        let tableSeen = false
        for (const buckets of [[...new Set(ports.flatMap((i) => intentBuckets(i).map((b) => b.bucket)))], [bucketChain(owner)]]) {
          const rules = []
          for (const b of buckets) {
            const json = await deps.netfilter.nftList(chain(HOSTPORT_TABLE, b))
            if (json === undefined) continue
            tableSeen = true
            rules.push(...parseNftList(json).rules)
          }
          const listing: NftListing = { chains: new Map(), rules }
          if (jumpsTo(listing, [chainName]).length > 0) return renderRemoveChains([chainName], listing)
        }
        return tableSeen ? renderRemoveChains([chainName], EMPTY_LISTING) : ''
      })
    },
    async gc(network: string, valid: readonly Owner[]): Promise<void> {
      await run(async () => {
        const all = await list(...table(HOSTPORT_TABLE))
        const stale = staleOwnerChains(network, valid, all)
        return stale.length ? renderRemoveChains(stale, all) : ''
      })
    },
  }

  // The node-wide loopback drop (its own table): no owner.
  const localnet = nftLocalnet(deps)

  // Every intent in one `nft -f`: each rendered as ensure's full path would from one listing per table, the
  // shared lines (tables, hooks, dispatch and mark chains) kept once. Owners whose rules are in place add nothing.
  const renderAll = async (intents: readonly FirewallIntent[]): Promise<string> => {
    const masqs = intents.filter((i): i is MasqIntent => i.kind === 'masquerade')
    const ports = intents.filter((i): i is PortmapIntent => i.kind === 'portmap')
    const lines: string[] = []
    if (masqs.length > 0) {
      const listing = await list(...table(MASQ_TABLE))
      for (const i of masqs) lines.push(...renderNftMasqEnsure(i, listing).split('\n'))
    }
    if (ports.length > 0) {
      const all = await list(...table(HOSTPORT_TABLE))
      for (const i of ports) {
        const exists = all.chains.has(ownerChain(i.owner))
        if (exists && ownerChainMatches(i, all) && all.rules.some((r) => jumpTarget(r) === ownerChain(i.owner))) continue
        lines.push(...renderSetup(i.snat ? i.markMasqBit : undefined, all), ...renderOwner(i, exists, all))
      }
    }
    if (intents.some((i) => i.kind === 'localnet-drop')) lines.push(...renderNftLocalnetEnsure().split('\n'))
    const distinct = [...new Set(lines.filter((l) => l !== ''))]
    return distinct.length ? `${distinct.join('\n')}\n` : ''
  }

  // The firewall role's kinds live in tscni's firewall table (nft-forward-ops.ts).
  const forward = createNftForward(deps)

  return {
    name: 'nftables',
    ensureAll: (intents: readonly FirewallIntent[]) => locked(deps, async () => {
      await forward.ensureAll(intents.filter(isForwardIntent))
      await run(() => renderAll(intents.filter((i) => !isForwardIntent(i))))
    }),
    ensure: (intent: FirewallIntent) => locked(deps, () => (intent.kind === 'localnet-drop'
      ? localnet.ensure()
      : isForwardIntent(intent) ? forward.ensureAll([intent]) : intent.kind === 'masquerade' ? masq.ensure(intent) : portmap.ensure(intent))),
    remove: (kind: IntentKind, owner: Owner, recorded?: readonly FirewallIntent[]) => locked(deps, () => (kind === 'localnet-drop'
      ? localnet.remove()
      : isForwardKind(kind) ? forward.remove(kind, owner, recorded) : kind === 'masquerade' ? masq.remove(owner) : portmap.remove(owner, recorded))),
    gc: (kind: IntentKind, network: string, valid: readonly Owner[]) => locked(deps, () => (kind === 'localnet-drop'
      ? Promise.resolve()
      : isForwardKind(kind) ? forward.gc(kind, network, valid) : kind === 'masquerade' ? masq.gc(network, valid) : portmap.gc(network, valid))),
    async verify(intent: FirewallIntent) {
      if (isForwardIntent(intent)) return forward.verify(intent)
      const missing = intent.kind === 'localnet-drop'
        ? await localnet.missing()
        : intent.kind === 'masquerade'
          ? missingNftMasq(intent, await list(...table(MASQ_TABLE)))
          : missingPortmap(intent, await list(...table(HOSTPORT_TABLE)))
      if (missing.length > 0) throw missingRulesError(intent, 'nftables ', missing)
    },
  }
}
