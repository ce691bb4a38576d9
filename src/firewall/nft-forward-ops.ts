// The nftables backend's part for the firewall role's kinds: one `nft -f` per call on tscni's firewall table,
// rendered from a listing of that table alone (nft-forward.ts). The caller holds the firewall lock.
import type { Logger } from '../plugin/log.ts'
import type { Netfilter } from '../system/index.ts'
import type { FirewallIntent, IsolationIntent, Owner } from './model.ts'
import { applyWithRetry } from './retry.ts'
import { EMPTY_LISTING, parseNftList, type NftListing } from './nft-json.ts'
import { forwardMissingError, type ForwardIntent } from './iptables-forward-ops.ts'
import {
  FORWARD_TABLE, missingNftForward, renderNftAcceptGc, renderNftAcceptRemove, renderNftForwardEnsure, renderNftIsolationRemove,
} from './nft-forward.ts'

/** The operations, each without the lock (the backend takes it). */
export function createNftForward(deps: { readonly netfilter: Netfilter; readonly log: Logger }) {
  const list = async (): Promise<NftListing> => {
    const json = await deps.netfilter.nftList(['table', ...FORWARD_TABLE.split(' ')])
    return json === undefined ? EMPTY_LISTING : parseNftList(json)
  }
  const run = (render: (listing: NftListing) => string): Promise<void> =>
    applyWithRetry('nft -f', async () => render(await list()), (s) => deps.netfilter.nftApply(s), deps.log)
  return {
    ensureAll: (intents: readonly ForwardIntent[]): Promise<void> => (intents.length === 0 ? Promise.resolve() : run((l) => renderNftForwardEnsure(intents, l))),
    /** Accept rules by owner (no record needed); isolation rules of the recorded bridges (the role knows the last one). */
    remove(kind: ForwardIntent['kind'], owner: Owner, recorded: readonly FirewallIntent[] | undefined): Promise<void> {
      if (kind === 'forward-accept') return run((l) => renderNftAcceptRemove(owner, l))
      const bridges = [...new Set((recorded ?? []).filter((i): i is IsolationIntent => i.kind === 'isolation').map((i) => i.bridge))]
      return bridges.length === 0 ? Promise.resolve() : run((l) => renderNftIsolationRemove(bridges, l))
    },
    gc: (kind: ForwardIntent['kind'], network: string, valid: readonly Owner[]): Promise<void> =>
      (kind === 'forward-accept' ? run((l) => renderNftAcceptGc(network, valid, l)) : Promise.resolve()),
    async verify(intent: ForwardIntent): Promise<void> {
      const missing = missingNftForward(intent, await list())
      if (missing.length > 0) throw forwardMissingError(intent, 'nftables ', missing)
    },
  }
}
