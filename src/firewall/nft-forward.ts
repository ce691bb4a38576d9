// The firewall role in nftables, which the reference lacks (containernetworking/plugins#462, #935): tscni's own
// table with the iptables layout's meaning. Isolation is checked first, then the admin chain, then the per-address
// accepts; accept rules carry the reference's owner comment (nft-owner.ts), so DEL and GC find them by owner.
import { formatIp, type IpNet } from '../plugin/addr.ts'
import { shortHash } from '../plugin/ids.ts'
import type { ForwardAcceptIntent, IsolationIntent, Owner } from './model.ts'
import { nftOwnerComment, nftOwnerHash } from './nft-owner.ts'
import { jumpTarget, nftRulesOf, nftString, type NftListing, type NftRule } from './nft-json.ts'

/** tscni's table for the firewall role. */
export const FORWARD_TABLE = 'inet tscni_firewall'
const BASE = 'forward'
const STAGE1 = 'isolation'
const STAGE2 = 'isolation-stage-2'
const ADMIN = 'admin'
const ACCEPT = 'containers'
/** The chains the base chain jumps to, in order. */
const JUMPS = [STAGE1, ADMIN, ACCEPT] as const
const CHAINS = [BASE, STAGE1, STAGE2, ADMIN, ACCEPT] as const

/** The two accept rules of one address, without comment. */
export function nftAcceptRules(addr: IpNet): string[] {
  const ip = addr.ip.family === 4 ? 'ip' : 'ip6'
  const a = formatIp(addr.ip)
  return [`${ip} daddr ${a} ct state established,related accept`, `${ip} saddr ${a} accept`]
}

// One bridge's isolation rules with the comments that identify them ("bridge <name>: ...").
function isolationRules(intent: Pick<IsolationIntent, 'bridge' | 'policy'>): Array<{ chain: string; rule: string; comment: string }> {
  const b = intent.bridge
  return [
    { chain: STAGE1, rule: `iifname "${b}" oifname != "${b}" jump ${STAGE2}`, comment: `bridge ${b}: leaving it for another isolated bridge` },
    ...(intent.policy === 'isolated' ? [{ chain: STAGE1, rule: `iifname "${b}" oifname "${b}" drop`, comment: `bridge ${b}: ingressPolicy isolated, within it` }] : []),
    { chain: STAGE2, rule: `oifname "${b}" drop`, comment: `bridge ${b}: entering it from another isolated bridge` },
  ]
}

const bridgePrefix = (bridge: string): string => `bridge ${bridge}: `

// Which address a rule matches in `field` (saddr, daddr): "ip 10.1.2.3", compared with the wanted ones.
function addrOf(rule: NftRule, field: 'saddr' | 'daddr'): string | undefined {
  for (const e of rule.expr as { match?: { left?: { payload?: { protocol: string; field: string } }; right?: unknown } }[]) {
    const p = e.match?.left?.payload
    if (p?.field === field && typeof e.match?.right === 'string') return `${p.protocol} ${e.match.right}`
  }
  return undefined
}

function acceptSignatures(rules: readonly NftRule[]): Set<string> {
  return new Set(rules.flatMap((r) => {
    const d = addrOf(r, 'daddr')
    const s = addrOf(r, 'saddr')
    return [...(d ? [`d ${d}`] : []), ...(s ? [`s ${s}`] : [])]
  }))
}

function wantedSignatures(addrs: readonly IpNet[]): string[] {
  return [...new Set(addrs.flatMap((a) => [`d ${a.ip.family === 4 ? 'ip' : 'ip6'} ${formatIp(a.ip)}`, `s ${a.ip.family === 4 ? 'ip' : 'ip6'} ${formatIp(a.ip)}`]))]
}

function baseIsRight(listing: NftListing): boolean {
  const rules = nftRulesOf(listing, BASE)
  return rules.length === JUMPS.length && rules.every((r, i) => jumpTarget(r) === JUMPS[i])
}

/** The table, its chains and the base chain's jumps, as far as the listing lacks them. */
function setupLines(listing: NftListing): string[] {
  const out: string[] = []
  if (listing.chains.size === 0) out.push(`add table ${FORWARD_TABLE} { comment "tscni firewall role: forwarding to and from containers" ; }`)
  for (const c of CHAINS) {
    if (listing.chains.has(c)) continue
    out.push(c === BASE
      ? `add chain ${FORWARD_TABLE} ${BASE} { type filter hook forward priority filter ; policy accept ; }`
      : `add chain ${FORWARD_TABLE} ${c}`)
  }
  if (!baseIsRight(listing)) {
    out.push(`flush chain ${FORWARD_TABLE} ${BASE}`, ...JUMPS.map((c) => `add rule ${FORWARD_TABLE} ${BASE} jump ${c}`))
  }
  return out
}

function acceptLines(intent: ForwardAcceptIntent, listing: NftListing): string[] {
  const comment = nftOwnerComment(intent.owner)
  const mine = nftRulesOf(listing, ACCEPT).filter((r) => r.comment?.startsWith(nftOwnerHash(intent.owner)))
  const have = acceptSignatures(mine.filter((r) => r.comment === comment))
  const want = wantedSignatures(intent.addresses)
  if (mine.length === want.length && want.every((s) => have.has(s))) return []
  const rules = [...new Set(intent.addresses.flatMap(nftAcceptRules))]
  return [...mine.map(deleteLine), ...rules.map((r) => `add rule ${FORWARD_TABLE} ${ACCEPT} ${r} comment ${nftString(comment)}`)]
}

function isolationLines(intent: IsolationIntent, listing: NftListing): string[] {
  const out: string[] = []
  for (const r of isolationRules(intent)) {
    if (nftRulesOf(listing, r.chain).some((x) => x.comment === r.comment)) continue
    out.push(`add rule ${FORWARD_TABLE} ${r.chain} ${r.rule} comment ${nftString(r.comment)}`)
  }
  return out
}

/** One nft script installing the intents; '' when the listing shows them in place. */
export function renderNftForwardEnsure(intents: ReadonlyArray<ForwardAcceptIntent | IsolationIntent>, listing: NftListing): string {
  const own = intents.flatMap((i) => (i.kind === 'forward-accept' ? acceptLines(i, listing) : isolationLines(i, listing)))
  const setup = setupLines(listing)
  if (own.length === 0 && setup.length === 0) return ''
  return `${[...setup, ...own].join('\n')}\n`
}

function deleteLine(r: NftRule): string {
  return `delete rule ${FORWARD_TABLE} ${r.chain} handle ${r.handle}`
}

// Deletes `doomed`; the whole table when nothing else of it would be left (no accept, isolation or admin rule).
function deleteWithTable(doomed: readonly NftRule[], listing: NftListing): string {
  if (doomed.length === 0) return ''
  const gone = new Set(doomed)
  const left = listing.rules.filter((r) => r.chain !== BASE && !gone.has(r))
  if (left.length === 0) return `delete table ${FORWARD_TABLE}\n`
  return `${doomed.map(deleteLine).join('\n')}\n`
}

/** Removes an owner's accept rules (by comment: no addresses needed). */
export function renderNftAcceptRemove(owner: Owner, listing: NftListing): string {
  return deleteWithTable(nftRulesOf(listing, ACCEPT).filter((r) => r.comment?.startsWith(nftOwnerHash(owner))), listing)
}

/** Removes the isolation rules of the bridges (their last attachment is gone). */
export function renderNftIsolationRemove(bridges: readonly string[], listing: NftListing): string {
  const doomed = listing.rules.filter((r) => (r.chain === STAGE1 || r.chain === STAGE2) && bridges.some((b) => r.comment?.startsWith(bridgePrefix(b))))
  return deleteWithTable(doomed, listing)
}

/** Deletes this network's accept rules whose comment is not that of a valid attachment. */
export function renderNftAcceptGc(network: string, valid: readonly Owner[], listing: NftListing): string {
  const keep = new Set(valid.map((o) => nftOwnerComment({ ...o, network })))
  const net = `${shortHash(network)}-`
  return deleteWithTable(nftRulesOf(listing, ACCEPT).filter((r) => r.comment?.startsWith(net) && !keep.has(r.comment)), listing)
}

/** What CHECK finds missing (empty when the intent is in place). */
export function missingNftForward(intent: ForwardAcceptIntent | IsolationIntent, listing: NftListing): string[] {
  const missing: string[] = []
  if (!baseIsRight(listing)) missing.push(`${FORWARD_TABLE} ${BASE}: ${JUMPS.map((c) => `jump ${c}`).join('; ')}`)
  if (intent.kind === 'forward-accept') {
    const comment = nftOwnerComment(intent.owner)
    const have = acceptSignatures(nftRulesOf(listing, ACCEPT).filter((r) => r.comment === comment))
    for (const a of intent.addresses) {
      const [d, s] = nftAcceptRules(a)
      const fam = `${a.ip.family === 4 ? 'ip' : 'ip6'} ${formatIp(a.ip)}`
      if (!have.has(`d ${fam}`)) missing.push(`${FORWARD_TABLE} ${ACCEPT}: ${d} comment "${comment}"`)
      if (!have.has(`s ${fam}`)) missing.push(`${FORWARD_TABLE} ${ACCEPT}: ${s} comment "${comment}"`)
    }
  } else {
    for (const r of isolationRules(intent)) {
      if (!nftRulesOf(listing, r.chain).some((x) => x.comment === r.comment)) missing.push(`${FORWARD_TABLE} ${r.chain}: ${r.rule} comment "${r.comment}"`)
    }
  }
  return missing
}
