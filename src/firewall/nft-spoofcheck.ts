// The MAC spoof check (`macspoofchk`): nftables bridge-family rules that let only the container's MAC in from the
// host veth, with the reference's table, chain and comment names so either implementation can remove the other's.
// Its changes run under the firewall lock, like the backends', so two verbs never delete by the same handle.
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { System } from '../system/index.ts'
import { locked, nodeLock } from './lock.ts'
import type { SpoofCheck } from './model.ts'
import { EMPTY_LISTING, parseNftList, type NftListing } from './nft-json.ts'

const TABLE = 'bridge nat'

const chainOf = (refId: string) => `cni-br-iface-${refId}`
const commentOf = (refId: string) => `macspoofchk-${refId}`

/** The nft script installing the check in one transaction (the chains are flushed first, so it is repeatable). */
export function renderSpoofSetup(sc: SpoofCheck): string {
  // nft (1.0.6) takes chain names only as bare identifiers: refuse anything that would not parse as one.
  if (!/^[A-Za-z0-9_.-]+$/.test(sc.refId)) {
    throw new CniError(ErrorCode.InvalidConfig, `macspoofchk cannot name nft chains after "${sc.refId}": container ID and ifname must use only letters, digits, '_', '.' and '-'`)
  }
  const chain = chainOf(sc.refId)
  const comment = `comment "${commentOf(sc.refId)}"`
  return [
    `add table ${TABLE}`,
    `add chain ${TABLE} PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }`,
    `add chain ${TABLE} ${chain}`,
    `add chain ${TABLE} ${chain}-mac`,
    `flush chain ${TABLE} ${chain}`,
    `flush chain ${TABLE} ${chain}-mac`,
    `add rule ${TABLE} PREROUTING iifname "${sc.hostVeth}" jump ${chain} ${comment}`,
    `add rule ${TABLE} ${chain} jump ${chain}-mac ${comment}`,
    `add rule ${TABLE} ${chain}-mac ether saddr ${sc.mac} return ${comment}`,
    `add rule ${TABLE} ${chain}-mac drop ${comment}`,
    '',
  ].join('\n')
}

/**
 * The nft script removing the check of `refId`, given the listing of table bridge nat: the PREROUTING rules carrying
 * its comment (by handle) and its two chains, only what exists. Empty when nothing is there.
 */
export function renderSpoofTeardown(refId: string, table: NftListing): string {
  const chain = chainOf(refId)
  const lines = table.rules
    .filter((rule) => rule.chain === 'PREROUTING' && rule.comment === commentOf(refId))
    .map((rule) => `delete rule ${TABLE} PREROUTING handle ${rule.handle}`)
  for (const name of [chain, `${chain}-mac`]) if (table.chains.has(name)) lines.push(`delete chain ${TABLE} ${name}`)
  return lines.length ? `${lines.join('\n')}\n` : ''
}

/** What installing and removing the check touch. */
export type SpoofCheckSystem = Pick<System, 'netfilter' | 'locker'>

/** Installs the check. */
export async function setupSpoofCheck(sys: SpoofCheckSystem, sc: SpoofCheck): Promise<void> {
  const script = renderSpoofSetup(sc)
  await locked(nodeLock(sys.locker), () => sys.netfilter.nftApply(script))
}

/** Removes the check of `refId`; nothing to do when the table or its objects are gone. */
export async function teardownSpoofCheck(sys: SpoofCheckSystem, refId: string): Promise<void> {
  await locked(nodeLock(sys.locker), async () => {
    const json = await sys.netfilter.nftList(['table', 'bridge', 'nat'])
    const script = renderSpoofTeardown(refId, json === undefined ? EMPTY_LISTING : parseNftList(json))
    if (script) await sys.netfilter.nftApply(script)
  })
}

/** True when the check of `sc` is fully in place: the PREROUTING jump and the MAC rule and drop in its chain. */
export async function spoofCheckPresent(sys: SpoofCheckSystem, sc: SpoofCheck): Promise<boolean> {
  const json = await sys.netfilter.nftList(['table', 'bridge', 'nat'])
  if (json === undefined) return false
  const table = parseNftList(json)
  const mine = table.rules.filter((rule) => rule.comment === commentOf(sc.refId))
  const jump = mine.some((rule) => rule.chain === 'PREROUTING')
  return jump && mine.filter((rule) => rule.chain === `${chainOf(sc.refId)}-mac`).length >= 2
}
