// The one reader of `nft -j -a list ...` output (checked field by field, see parseNftList): chains and rules with handles,
// for the backends, the MAC spoof check and the owners doctor reports.
import { CniError, ErrorCode } from '../plugin/errors.ts'

/** A chain as listed; `hook` is set for base chains. */
export interface NftChain {
  readonly name: string
  readonly hook: string | undefined
}

/** A rule as listed: where it is, its handle (for delete), comment, and raw expression list. */
export interface NftRule {
  /** Address family of its table: ip, ip6, inet, bridge, ... */
  readonly family: string
  readonly table: string
  readonly chain: string
  readonly handle: number
  readonly comment: string | undefined
  readonly expr: readonly unknown[]
}

/** One table's (or chain's, or the whole ruleset's) listing. */
export interface NftListing {
  /** Chains by name: list one table when chains matter (two tables may each have a chain of a name). */
  readonly chains: ReadonlyMap<string, NftChain>
  readonly rules: readonly NftRule[]
}

/** Nothing listed (the table does not exist yet). */
export const EMPTY_LISTING: NftListing = { chains: new Map(), rules: [] }

/**
 * Parses nft's JSON; a shape it does not expect is an error naming the field and the nft output. Checked field by
 * field rather than through a schema: a node's listings hold a rule per attachment (the reference's masquerade
 * chain, GC's whole tables), and Go-compatible parsing plus a zod decode of every item cost 15-35 ms at 500
 * attachments on every ADD and DEL, against ~2 ms for JSON.parse and these checks (measured). Nothing Go-specific
 * is lost: nft writes plain integers, and only the fields below are read.
 */
export function parseNftList(json: string): NftListing {
  const fail = (cause: unknown) => new CniError(ErrorCode.Internal, 'cannot parse nft -j output', { details: json.slice(0, 2000), cause })
  let doc: unknown
  try {
    doc = JSON.parse(json)
  } catch (err) {
    throw fail(err)
  }
  const items = isObject(doc) ? doc.nftables : undefined
  if (!Array.isArray(items)) throw fail(new Error(invalid('nftables', 'expected array', items)))
  const chains = new Map<string, NftChain>()
  const rules: NftRule[] = []
  items.forEach((item: unknown, i) => {
    if (!isObject(item)) throw fail(new Error(invalid(`nftables.${i}`, 'expected object', item)))
    if (item.chain !== undefined) {
      const c = objectAt(item.chain, `nftables.${i}.chain`, fail)
      const name = req(c, 'name', 'string', `nftables.${i}.chain`, fail)
      chains.set(name, { name, hook: opt(c, 'hook', 'string', `nftables.${i}.chain`, fail) })
    } else if (item.rule !== undefined) {
      const where = `nftables.${i}.rule`
      const r = objectAt(item.rule, where, fail)
      if (!Array.isArray(r.expr)) throw fail(new Error(invalid(`${where}.expr`, 'expected array', r.expr)))
      rules.push({
        family: req(r, 'family', 'string', where, fail), table: req(r, 'table', 'string', where, fail), chain: req(r, 'chain', 'string', where, fail),
        handle: req(r, 'handle', 'number', where, fail), comment: opt(r, 'comment', 'string', where, fail), expr: r.expr as unknown[],
      })
    }
  })
  return { chains, rules }
}

type Kind = { string: string; number: number }

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function objectAt(v: unknown, where: string, fail: (cause: unknown) => Error): Record<string, unknown> {
  if (!isObject(v)) throw fail(new Error(invalid(where, 'expected object', v)))
  return v
}

function req<K extends keyof Kind>(o: Record<string, unknown>, key: string, kind: K, where: string, fail: (cause: unknown) => Error): Kind[K] {
  const v = o[key]
  if (typeof v !== kind) throw fail(new Error(invalid(`${where}.${key}`, `expected ${kind}`, v)))
  return v as Kind[K]
}

function opt<K extends keyof Kind>(o: Record<string, unknown>, key: string, kind: K, where: string, fail: (cause: unknown) => Error): Kind[K] | undefined {
  return o[key] === undefined ? undefined : req(o, key, kind, where, fail)
}

// The wording of the decoder's other errors (describeIssue in decode/go-json.ts).
function invalid(path: string, why: string, got: unknown): string {
  const shown = got === undefined ? 'missing' : `got ${String(JSON.stringify(got)).slice(0, 80)}`
  return `invalid ${path}: ${why} (${shown})`
}

/** Rules of one chain, in order. */
export function nftRulesOf(listing: NftListing, chain: string): NftRule[] {
  return listing.rules.filter((r) => r.chain === chain)
}

/** The jump or goto target of a rule's last statement, if it has one. */
export function jumpTarget(rule: NftRule): string | undefined {
  const last = rule.expr[rule.expr.length - 1] as { jump?: { target?: string }; goto?: { target?: string } } | undefined
  return last?.jump?.target ?? last?.goto?.target
}

/** An nft double-quoted string: nft has no escapes inside quotes, so quotes are dropped (as the reference does). */
export function nftString(text: string): string {
  return `"${text.replaceAll('"', '')}"`
}
