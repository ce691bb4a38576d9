// Portmap in nftables, tscni's own layout: one inet table, one chain per (network, container, ifname).
//
// table inet tscni_hostport
//   prerouting / output (nat, -100): fib daddr type local jump hostports     -- never the input hook (containernetworking/plugins#1115)
//   hostports: 16 jumps to bucket chains hostports-0..f (by the first digit of the hash of "<proto>.<port>")
//   hostports-<x>: per owner, one jump pre-filtered by an anonymous set of its (proto . port) pairs that hash to <x>,
//     commented with the owner; appended, so owners of one host port meet in one bucket in ADD order and the first
//     one wins, as with iptables' CNI-HOSTPORT-DNAT (owners added before this layout sit in the bucket of their
//     owner hash, bucketChain, until their DEL)
//   pm-<H(net)>-<H(if:id)>: the owner's hairpin/localhost "jump mark-<bit>" and DNAT rules, both families
//   mark-<bit>: sets the bit;  postrouting (nat, 100): masquerade packets carrying it
// ADD of a new owner is one transaction that lists nothing; DEL lists only its ports' buckets (about N/16 jumps
// each), so neither grows much with the number of other owners.
import { formatCidr, formatIp, networkOf, type IpNet } from '../plugin/addr.ts'
import { sha512Hex, shortHash } from '../plugin/ids.ts'
import type { Owner, PortmapIntent } from './model.ts'
import { hostMatch, loopbackHost } from './host-match.ts'
import { nftOwnerComment } from './nft-owner.ts'
import { jumpTarget, nftRulesOf, nftString, type NftListing, type NftRule } from './nft-json.ts'

/** tscni's portmap table: one inet table, so a dual-stack owner is one chain and one transaction. */
export const HOSTPORT_TABLE = 'inet tscni_hostport'
const DISPATCH = 'hostports'

/** The owner's chain: pm-<H(network)>-<H(ifname:containerID)>; the network hash first, so GC can select by prefix. */
export function ownerChain(owner: Owner): string {
  return `pm-${shortHash(owner.network)}-${shortHash(`${owner.ifname}:${owner.containerId}`)}`
}

/** The bucket of the owner hash: where owners added before the per-port buckets keep their one jump. */
export function bucketChain(owner: Owner): string {
  return `${DISPATCH}-${shortHash(`${owner.ifname}:${owner.containerId}`)[0]}`
}

/** The dispatch bucket of one host port: every owner of that (protocol, port) jumps from here, in ADD order. */
export function portBucket(protocol: string, port: number): string {
  return `${DISPATCH}-${shortHash(`${protocol}.${port}`)[0]}`
}

/** The buckets an intent's jumps go to, each with its (protocol . port) pairs, in bucket order. */
export function intentBuckets(intent: PortmapIntent): Array<{ bucket: string; pairs: string[] }> {
  const byBucket = new Map<string, Set<string>>()
  for (const m of intent.mappings) {
    const bucket = portBucket(m.protocol, m.hostPort)
    byBucket.set(bucket, (byBucket.get(bucket) ?? new Set()).add(`${m.protocol} . ${m.hostPort}`))
  }
  return [...byBucket].sort(([a], [b]) => a.localeCompare(b)).map(([bucket, pairs]) => ({ bucket, pairs: [...pairs] }))
}

const BUCKETS = [...'0123456789abcdef'].map((x) => `${DISPATCH}-${x}`)

/** The chain that sets the masquerade mark bit. */
export function markChain(bit: number): string {
  return `mark-${bit}`
}

function markHex(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, '0')}`
}

/** The owner chain's rules (without comments): per mapping, hairpin and localhost marks, then DNAT; per family. */
export function ownerRules(intent: PortmapIntent): string[] {
  const out: string[] = []
  for (const container of [intent.containerV4, intent.containerV6]) {
    if (container) out.push(...familyRules(intent, container))
  }
  return out
}

function familyRules(intent: PortmapIntent, container: IpNet): string[] {
  const family = container.ip.family
  const ip = family === 4 ? 'ip' : 'ip6'
  const cond = ((family === 4 ? intent.conditionsV4 : intent.conditionsV6) ?? []).join(' ')
  const out: string[] = []
  for (const m of intent.mappings) {
    const dst = hostMatch(m, family)
    if (dst === null) continue
    // A loopback host address: only packets this host sent, never a neighbour's or a pod's (see loopbackHost).
    const base = [cond, dst ? `${ip} daddr ${dst}` : '', loopbackHost(m) ? 'fib saddr type local' : '', `${m.protocol} dport ${m.hostPort}`].filter(Boolean).join(' ')
    const addr = formatIp(container.ip)
    if (intent.snat) {
      const jump = `jump ${markChain(intent.markMasqBit)}`
      if (intent.masqAll) out.push(`${base} ${jump}`)
      else out.push(`${ip} saddr ${formatCidr(networkOf(container))} ${base} ${jump}`)
      if (family === 4 && !intent.masqAll) out.push(`ip saddr 127.0.0.1 ${base} ${jump}`)
    }
    out.push(`${base} dnat ${ip} to ${family === 4 ? addr : `[${addr}]`}:${m.containerPort}`)
  }
  return out.map((r) => r.replace(/ {2,}/g, ' ').trim())
}

/** A rule's comment: a fingerprint of its text, so ensure and CHECK can compare a listing with the intent. */
export function ruleTag(rule: string): string {
  return `tscni:${sha512Hex(rule).slice(0, 12)}`
}

/** A dispatch jump: (protocol . port) pairs as an anonymous set, then the jump to the owner's chain. */
export function dispatchRule(intent: PortmapIntent, pairs: readonly string[]): string {
  return `meta l4proto . th dport { ${pairs.join(', ')} } jump ${ownerChain(intent.owner)}`
}

/** True when the owner chain in `listing` holds exactly the rules the intent wants. */
export function ownerChainMatches(intent: PortmapIntent, listing: NftListing): boolean {
  const have = nftRulesOf(listing, ownerChain(intent.owner)).map((r) => r.comment)
  const want = ownerRules(intent).map(ruleTag)
  return have.length === want.length && want.every((t, i) => have[i] === t)
}

/** Static objects (table, hooks, dispatch, mark chain) not yet in `listing` (the whole table, or empty). */
export function renderSetup(bit: number | undefined, listing: NftListing): string[] {
  const t = HOSTPORT_TABLE
  // Only the objects the listing lacks: re-declaring existing (base) chains slows the commit for no change.
  const has = (chain: string): boolean => listing.chains.has(chain)
  const out = [
    ...(listing.chains.size === 0 ? [`add table ${t} { comment "tscni portmap" ; }`] : []),
    ...(has(DISPATCH) ? [] : [`add chain ${t} ${DISPATCH}`]),
    ...(has('prerouting') ? [] : [`add chain ${t} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`]),
    ...(has('output') ? [] : [`add chain ${t} output { type nat hook output priority -100 ; policy accept ; }`]),
    ...(has('postrouting') ? [] : [`add chain ${t} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`]),
  ]
  for (const bucket of BUCKETS) {
    if (!has(bucket)) out.push(`add chain ${t} ${bucket}`)
    if (!nftRulesOf(listing, DISPATCH).some((r) => jumpTarget(r) === bucket)) out.push(`add rule ${t} ${DISPATCH} jump ${bucket}`)
  }
  for (const hook of ['prerouting', 'output']) {
    if (!nftRulesOf(listing, hook).some((r) => r.comment === 'tscni-dispatch')) {
      out.push(`add rule ${t} ${hook} fib daddr type local jump ${DISPATCH} comment "tscni-dispatch"`)
    }
  }
  if (bit !== undefined) {
    const chain = markChain(bit)
    if (!has(chain)) out.push(`add chain ${t} ${chain}`)
    if (nftRulesOf(listing, chain).length === 0) out.push(`add rule ${t} ${chain} meta mark set meta mark | ${markHex(bit)}`)
    if (!nftRulesOf(listing, 'postrouting').some((r) => r.comment === `tscni-mark-${bit}`)) {
      out.push(`add rule ${t} postrouting meta mark & ${markHex(bit)} == ${markHex(bit)} masquerade comment "tscni-mark-${bit}"`)
    }
  }
  return out
}

/**
 * The owner's part of ADD. `exists` says whether the owner chain is there (then its dispatch jump is too: both
 * are only ever created and deleted together); `dispatch` is the dispatch chain's listing, needed only when an
 * existing owner's ports changed so its jump must be replaced.
 */
export function renderOwner(intent: PortmapIntent, exists: boolean, dispatch?: NftListing): string[] {
  const t = HOSTPORT_TABLE
  const chain = ownerChain(intent.owner)
  // "create" fails when the chain exists: a new owner's ADD needs no listing, and a repeated one cannot duplicate.
  const out = [exists ? `flush chain ${t} ${chain}` : `create chain ${t} ${chain}`]
  for (const r of ownerRules(intent)) out.push(`add rule ${t} ${chain} ${r} comment "${ruleTag(r)}"`)
  const jumps = intentBuckets(intent).map(({ bucket, pairs }) => `add rule ${t} ${bucket} ${dispatchRule(intent, pairs)} comment ${nftString(nftOwnerComment(intent.owner))}`)
  if (!exists) out.push(...jumps)
  else if (dispatch) {
    out.push(...deleteJumps(dispatch, [chain]))
    out.push(...jumps)
  }
  return out
}

/** The rules of `listing` jumping to any of `chains`. */
export function jumpsTo(listing: NftListing, chains: readonly string[]): NftRule[] {
  return listing.rules.filter((r) => chains.includes(jumpTarget(r) ?? ''))
}

function deleteJumps(listing: NftListing, chains: readonly string[]): string[] {
  return jumpsTo(listing, chains).map((r) => `delete rule ${HOSTPORT_TABLE} ${r.chain} handle ${r.handle}`)
}

/**
 * Deletes owner chains and the jumps to them found in `dispatch` (the owner's bucket, or the whole table);
 * "add, flush, delete" makes a missing chain harmless in one transaction.
 */
export function renderRemoveChains(chains: readonly string[], dispatch: NftListing): string {
  const t = HOSTPORT_TABLE
  const out = deleteJumps(dispatch, chains)
  for (const c of chains) out.push(`add chain ${t} ${c}`, `flush chain ${t} ${c}`, `delete chain ${t} ${c}`)
  return out.length ? `${out.join('\n')}\n` : ''
}

/** Owner chains of `network` (by name prefix) whose owner is not in `valid`. */
export function staleOwnerChains(network: string, valid: readonly Owner[], listing: NftListing): string[] {
  const keep = new Set(valid.map((o) => ownerChain({ ...o, network })))
  const prefix = `pm-${shortHash(network)}-`
  return [...listing.chains.keys()].filter((c) => c.startsWith(prefix) && !keep.has(c))
}

/** What CHECK finds missing in the whole table's listing. */
export function missingPortmap(intent: PortmapIntent, listing: NftListing): string[] {
  const chain = ownerChain(intent.owner)
  if (!listing.chains.has(chain)) return [`chain ${chain} not found in table ${HOSTPORT_TABLE}`]
  const have = new Set(nftRulesOf(listing, chain).map((r) => r.comment))
  const missing = ownerRules(intent).filter((r) => !have.has(ruleTag(r))).map((r) => `${chain}: ${r}`)
  const legacy = nftRulesOf(listing, bucketChain(intent.owner)).some((r) => jumpTarget(r) === chain)
  for (const { bucket } of intentBuckets(intent)) {
    if (!legacy && !nftRulesOf(listing, bucket).some((r) => jumpTarget(r) === chain)) missing.push(`${bucket}: jump ${chain}`)
  }
  for (const hook of ['prerouting', 'output']) {
    if (!nftRulesOf(listing, hook).some((r) => r.comment === 'tscni-dispatch')) missing.push(`${hook}: jump ${DISPATCH}`)
  }
  if (intent.snat && !nftRulesOf(listing, 'postrouting').some((r) => r.comment === `tscni-mark-${intent.markMasqBit}`)) {
    missing.push(`postrouting: masquerade mark bit ${intent.markMasqBit}`)
  }
  return missing
}
