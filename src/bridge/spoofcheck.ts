// The MAC spoof check (`macspoofchk`): nftables bridge-family rules that let only the container's MAC in from the
// host veth, with the reference's table, chain and comment names so either implementation can remove the other's.
import type { System } from '../system/index.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { SpoofCheck } from './plan.ts'

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
 * The nft script removing the check of `refId`, given `nft -j list table bridge nat` output: the PREROUTING rules
 * carrying its comment (by handle) and its two chains, only what exists. Empty when nothing is there.
 */
export function renderSpoofTeardown(refId: string, tableJson: string | undefined): string {
  if (!tableJson) return ''
  const chain = chainOf(refId)
  let items: unknown[] = []
  try {
    items = ((JSON.parse(tableJson) as { nftables?: unknown[] }).nftables ?? [])
  } catch {
    throw new CniError(ErrorCode.Internal, 'nft -j list table bridge nat printed something that is not JSON')
  }
  const lines: string[] = []
  const chains = new Set<string>()
  for (const item of items as Array<Record<string, Record<string, unknown>>>) {
    if (item.chain && typeof item.chain.name === 'string') chains.add(item.chain.name)
    const rule = item.rule
    if (rule && rule.chain === 'PREROUTING' && rule.comment === commentOf(refId)) lines.push(`delete rule ${TABLE} PREROUTING handle ${String(rule.handle)}`)
  }
  for (const name of [chain, `${chain}-mac`]) if (chains.has(name)) lines.push(`delete chain ${TABLE} ${name}`)
  return lines.length ? `${lines.join('\n')}\n` : ''
}

/** Installs the check. */
export async function setupSpoofCheck(sys: System, sc: SpoofCheck): Promise<void> {
  await sys.netfilter.nftApply(renderSpoofSetup(sc))
}

/** Removes the check of `refId`; nothing to do when the table or its objects are gone. */
export async function teardownSpoofCheck(sys: System, refId: string): Promise<void> {
  const script = renderSpoofTeardown(refId, await sys.netfilter.nftList(['table', 'bridge', 'nat']))
  if (script) await sys.netfilter.nftApply(script)
}
