// The node-wide loopback drop in nftables (pure): a table of its own whose prerouting chain, at raw priority (before
// conntrack and NAT), drops packets to 127.0.0.0/8 that did not arrive on lo. The same rule as iptables-localnet.ts.
import type { NftListing } from './nft-json.ts'

/** tscni's loopback table: ip only, as route_localnet is IPv4 only (the kernel drops ::1 from other devices itself). */
export const LOCALNET_TABLE = 'ip tscni_localnet'
const CHAIN = 'prerouting'
const COMMENT = 'tscni-localnet-drop'

/** The chain to list (nft list chain ...) for ensure and CHECK. */
export const LOCALNET_CHAIN: readonly string[] = ['chain', ...LOCALNET_TABLE.split(' '), CHAIN]

/** nft script (re)writing the table; flushing first keeps exactly one copy of the rule. */
export function renderNftLocalnetEnsure(): string {
  const chain = `${LOCALNET_TABLE} ${CHAIN}`
  return [
    `add table ${LOCALNET_TABLE} { comment "tscni: loopback only from lo" ; }`,
    // -300 is "raw": the numeric form parses in every nft version.
    `add chain ${chain} { type filter hook prerouting priority -300 ; policy accept ; }`,
    `flush chain ${chain}`,
    `add rule ${chain} iif != "lo" ip daddr 127.0.0.0/8 drop comment "${COMMENT}"`,
    '',
  ].join('\n')
}

/** nft script removing the table. */
export function renderNftLocalnetRemove(): string {
  return `delete table ${LOCALNET_TABLE}\n`
}

/** What CHECK finds missing in the chain's listing (undefined: the chain does not exist). */
export function missingNftLocalnet(listing: NftListing | undefined): string[] {
  if (listing === undefined) return [`chain ${LOCALNET_TABLE} ${CHAIN} not found`]
  return listing.rules.some((r) => r.chain === CHAIN && r.comment === COMMENT) ? [] : [`${CHAIN}: iif != "lo" ip daddr 127.0.0.0/8 drop`]
}
