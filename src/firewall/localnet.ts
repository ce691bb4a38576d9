// The loopback drop's operations for each backend (thin, over the netfilter tools; the caller holds the firewall
// lock): ensure, remove and what CHECK misses. The rules themselves are in iptables-localnet.ts and nft-localnet.ts.
import type { Logger } from '../plugin/log.ts'
import type { Netfilter } from '../system/index.ts'
import { applyWithRetry } from './retry.ts'
import { missingLocalnet, renderLocalnetEnsure, renderLocalnetRemove } from './iptables-localnet.ts'
import { LOCALNET_CHAIN, LOCALNET_TABLE, missingNftLocalnet, renderNftLocalnetEnsure, renderNftLocalnetRemove } from './nft-localnet.ts'
import { parseNftList } from './nft-json.ts'

/** One backend's view of the node-wide loopback drop. */
export interface LocalnetOps {
  ensure(): Promise<void>
  remove(): Promise<void>
  missing(): Promise<string[]>
}

/** Through iptables (IPv4 only: the raw table of iptables-save/-restore). */
export function iptablesLocalnet(deps: { netfilter: Netfilter; log: Logger }): LocalnetOps {
  const save = () => deps.netfilter.save(4, 'raw')
  const run = (render: (raw: string) => string) => applyWithRetry('iptables-restore', async () => render(await save()), (s) => deps.netfilter.restore(4, s), deps.log)
  return {
    ensure: () => run(renderLocalnetEnsure),
    remove: () => run(renderLocalnetRemove),
    missing: async () => missingLocalnet(await save()),
  }
}

/** Through nft: a read first, so the common ADD (rule in place) commits nothing. */
export function nftLocalnet(deps: { netfilter: Netfilter; log: Logger }): LocalnetOps {
  const read = async () => {
    const json = await deps.netfilter.nftList(LOCALNET_CHAIN)
    return missingNftLocalnet(json === undefined ? undefined : parseNftList(json))
  }
  return {
    ensure: async () => {
      if ((await read()).length > 0) await deps.netfilter.nftApply(renderNftLocalnetEnsure())
    },
    remove: async () => {
      if ((await deps.netfilter.nftList(['table', ...LOCALNET_TABLE.split(' ')])) !== undefined) await deps.netfilter.nftApply(renderNftLocalnetRemove())
    },
    missing: read,
  }
}
