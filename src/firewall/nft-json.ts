// The one reader of `nft -j -a list ...` output (decoded like every input, src/decode/go-json.ts): chains and rules with handles,
// for the backends, the MAC spoof check and the owners doctor reports.
import * as z from 'zod/mini'
import { decodeOrThrow, lazily, parseJson } from '../decode/go-json.ts'
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

const schemas = lazily(() => ({
  Chain: z.object({ name: z.string(), hook: z.optional(z.string()) }),
  Rule: z.object({ family: z.string(), table: z.string(), chain: z.string(), handle: z.number(), comment: z.optional(z.string()), expr: z.array(z.unknown()) }),
  Listing: z.object({ nftables: z.array(z.record(z.string(), z.unknown())) }),
}))

/** Parses nft's JSON; a shape it does not expect is an error naming the nft output. */
export function parseNftList(json: string): NftListing {
  const fail = (cause: unknown) => new CniError(ErrorCode.Internal, 'cannot parse nft -j output', { details: json.slice(0, 2000), cause })
  let doc: unknown
  try {
    doc = parseJson(json)
  } catch (err) {
    throw fail(err)
  }
  const decode = <S extends z.ZodMiniType>(schema: S, value: unknown, where: string) => decodeOrThrow(schema, value, where, (text) => fail(new Error(text)))
  const chains = new Map<string, NftChain>()
  const rules: NftRule[] = []
  decode(schemas().Listing, doc, '').nftables.forEach((item, i) => {
    if (item.chain !== undefined) {
      const c = decode(schemas().Chain, item.chain, `nftables.${i}.chain`)
      chains.set(c.name, { name: c.name, hook: c.hook })
    } else if (item.rule !== undefined) {
      const r = decode(schemas().Rule, item.rule, `nftables.${i}.rule`)
      rules.push({ family: r.family, table: r.table, chain: r.chain, handle: r.handle, comment: r.comment, expr: r.expr })
    }
  })
  return { chains, rules }
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
