// Who owns the CNI rules found in a listing: the owners named by the comments bridge (ipMasq) and portmap write.
import type { IntentKind } from './model.ts'
import { dnatComment, masqComment } from './iptables-rules.ts'
import { parseSave } from './iptables-save.ts'
import { parseNftList } from './nft-json.ts'
import { nftOwnerHash } from './nft-owner.ts'

/** Where a listing came from. */
export type OwnerSource = 'iptables' | 'ip6tables' | 'nftables'

/** One attachment that owns rules, as far as the rule comments tell. */
export interface FirewallOwner {
  readonly source: OwnerSource
  readonly kind: IntentKind
  /** The comment as listed: matching compares against it, so a comment cut to the tool's limit still matches. */
  readonly comment: string
  /** Names as the comment spells them (nftables drops double quotes; a cut comment gives a prefix). */
  readonly network: string
  readonly containerId: string
  /** nftables comments name the interface; iptables comments do not. */
  readonly ifname?: string
  /** How many rules carry this owner's comment. */
  readonly rules: number
}

/** An attachment a node knows about (a reservation, or a runtime's cache entry); ifname is unknown for legacy reservations. */
export interface KnownAttachment {
  readonly network: string
  readonly containerId: string
  readonly ifname: string | undefined
}

// iptables comments: ipMasq `name: "<net>" id: "<cid>"`, portmap `dnat name: "<net>" id: "<cid>"` (Go %q).
const IPT_PREFIXES: ReadonlyArray<readonly [string, IntentKind]> = [['dnat name: ', 'portmap'], ['name: ', 'masquerade']]

/** Owners of the CNI rules in `iptables-save -t nat` output (either family); rules without such a comment are skipped. */
export function iptablesOwners(saveText: string, source: 'iptables' | 'ip6tables'): FirewallOwner[] {
  const owners = new Map<string, FirewallOwner>()
  for (const rule of parseSave(saveText).rules) {
    const parsed = rule.comment === undefined ? undefined : parseIptablesComment(rule.comment)
    if (!parsed) continue
    const key = `${parsed.kind}\u0000${rule.comment}`
    const seen = owners.get(key)
    owners.set(key, seen ? { ...seen, rules: seen.rules + 1 } : { source, ...parsed, comment: rule.comment!, rules: 1 })
  }
  return [...owners.values()]
}

/** Kind and names from one iptables comment; undefined when it is not an owner comment. */
export function parseIptablesComment(comment: string): { kind: IntentKind; network: string; containerId: string } | undefined {
  const entry = IPT_PREFIXES.find(([prefix]) => comment.startsWith(prefix))
  if (!entry) return undefined
  const name = readGoString(comment, entry[0].length)
  if (!name) return undefined
  if (name.end === -1) return { kind: entry[1], network: name.value, containerId: '' }
  if (!comment.startsWith(' id: ', name.end)) return undefined
  const id = readGoString(comment, name.end + ' id: '.length)
  if (!id || (id.end !== -1 && id.end !== comment.length)) return undefined
  return { kind: entry[1], network: name.value, containerId: id.value }
}

// A Go %q string starting at `start`; end is the index after the closing quote, or -1 when the comment was cut
// (iptables keeps 253 bytes and "...") before it.
function readGoString(text: string, start: number): { value: string; end: number } | undefined {
  if (text[start] !== '"') return undefined
  let value = ''
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i]!
    if (ch === '"') return { value, end: i + 1 }
    if (ch !== '\\') { value += ch; continue }
    const next = text[++i]
    if (next === 'n') value += '\n'
    else if (next === 't') value += '\t'
    else if (next === 'r') value += '\r'
    else if (next === 'x') { value += String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16)); i += 2 }
    else if (next !== undefined) value += next
  }
  return { value: value.endsWith('...') ? value.slice(0, -3) : value, end: -1 }
}

// The tables whose rule comments name an owner: the reference's masquerade table and tscni's portmap table.
const NFT_TABLES: Readonly<Record<string, IntentKind>> = { cni_plugins_masquerade: 'masquerade', tscni_hostport: 'portmap' }
// "<H(net)>-<H(ifname:cid)>, net: <net>, if: <ifname>, id: <cid>", possibly cut at 128 characters.
const NFT_COMMENT = /^([0-9a-f]{16})-([0-9a-f]{16}), net: (.*?)(?:, if: (.*?)(?:, id: (.*))?)?$/

/** Owners of the CNI rules in `nft -j list ruleset` output (masquerade and tscni portmap tables). */
export function nftOwners(rulesetJson: string): FirewallOwner[] {
  const owners = new Map<string, FirewallOwner>()
  for (const rule of parseNftList(rulesetJson).rules) {
    if (rule.comment === undefined) continue
    const kind = NFT_TABLES[rule.table]
    const m = NFT_COMMENT.exec(rule.comment)
    if (!kind || !m) continue
    const key = `${kind}\u0000${m[1]}-${m[2]}`
    const seen = owners.get(key)
    owners.set(key, seen
      ? { ...seen, rules: seen.rules + 1 }
      : { source: 'nftables', kind, comment: rule.comment, network: m[3]!, containerId: m[5] ?? '', ...(m[4] === undefined ? {} : { ifname: m[4] }), rules: 1 })
  }
  return [...owners.values()]
}

/**
 * True when `owner`'s rules belong to the attachment: the comment the plugins would write for it is the listed
 * one (iptables), or the hashes agree (nftables). A legacy attachment without ifname takes the comment's.
 */
export function ownedBy(owner: FirewallOwner, att: KnownAttachment): boolean {
  const o = { network: att.network, containerId: att.containerId, ifname: att.ifname ?? '' }
  if (owner.source !== 'nftables') return owner.comment === (owner.kind === 'portmap' ? dnatComment(o) : masqComment(o))
  // A legacy reservation does not know its ifname: take the one the comment names (it is cut only after it).
  const ifname = att.ifname ?? owner.ifname
  return ifname !== undefined && owner.comment.startsWith(`${nftOwnerHash({ ...o, ifname })},`)
}
