// Parses `iptables-save -t nat` output into chains and rules, keeping each rule's exact text for "-D".
import { canonicalKey, tokenize } from './iptables-text.ts'

/** One rule as iptables-save printed it. */
export interface SavedRule {
  readonly chain: string
  /** The arguments after "-A <chain> ", exactly as printed: valid restore syntax for an exact "-D". */
  readonly text: string
  readonly args: readonly string[]
  /** The chain or target after -j or -g, if any. */
  readonly target: string | undefined
  /** The value of --comment, if any. */
  readonly comment: string | undefined
  /** canonicalKey(args), for comparisons. */
  readonly key: string
}

/** The nat table as read from iptables-save. */
export interface NatState {
  /** Every chain declared in the table, built-in ones included. */
  readonly chains: ReadonlySet<string>
  /** Rules in table order. */
  readonly rules: readonly SavedRule[]
}

/** An empty table (no iptables state yet). */
export const EMPTY_NAT: NatState = { chains: new Set(), rules: [] }

/** Parses the `*nat` section of iptables-save output; other tables and comment lines are ignored. */
export function parseSave(text: string, table = 'nat'): NatState {
  const chains = new Set<string>()
  const rules: SavedRule[] = []
  let inTable = false
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (line.startsWith('*')) { inTable = line.slice(1) === table; continue }
    if (!inTable || line === '' || line.startsWith('#')) continue
    if (line === 'COMMIT') { inTable = false; continue }
    if (line.startsWith(':')) {
      chains.add(line.slice(1).split(' ')[0]!)
    } else if (line.startsWith('-A ')) {
      rules.push(appendedRule(line))
    }
  }
  return { chains, rules }
}

/**
 * Parses `iptables -S <chain>` output (one chain, no table header): its "-N"/"-P" line and its "-A" rules, in the
 * shape parseSave gives for a whole table.
 */
export function parseChainListing(text: string): NatState {
  const chains = new Set<string>()
  const rules: SavedRule[] = []
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (line.startsWith('-N ') || line.startsWith('-P ')) chains.add(line.slice(3).split(' ')[0]!)
    else if (line.startsWith('-A ')) rules.push(appendedRule(line))
  }
  return { chains, rules }
}

// "-A <chain> <rule text>" as both formats print it.
function appendedRule(line: string): SavedRule {
  const rest = line.slice(3)
  const space = rest.indexOf(' ')
  return savedRule(space === -1 ? rest : rest.slice(0, space), space === -1 ? '' : rest.slice(space + 1))
}

/**
 * Builds a SavedRule from a chain and the rule's argument text. Tokens, comment and key are computed on first use:
 * a node's nat table may hold tens of thousands of kube-proxy rules, and a verb compares only a few chains.
 */
export function savedRule(chain: string, text: string): SavedRule {
  let args: readonly string[] | undefined
  let key: string | undefined
  const tokens = (): readonly string[] => (args ??= tokenize(text))
  return {
    chain,
    text,
    target: lastTarget(text),
    get args() { return tokens() },
    get comment() { return valueAfter(tokens(), ['--comment']) },
    get key() { return (key ??= canonicalKey(tokens())) },
  }
}

// iptables-save prints the target last, after every match (comments included), so the last -j/-g is the target;
// chain and target names are never quoted. Much cheaper than tokenizing every rule of the table.
const TARGET = /(?:^|\s)(?:-j|--jump|-g|--goto)\s+(\S+)/g
function lastTarget(text: string): string | undefined {
  let found: string | undefined
  for (const m of text.matchAll(TARGET)) found = m[1]
  return found
}

/** Rules of one chain, in order. */
export function rulesOf(state: NatState, chain: string): SavedRule[] {
  return state.rules.filter((r) => r.chain === chain)
}

/** True when `chain` holds a rule equal (canonically) to `args`. */
export function hasRule(state: NatState, chain: string, args: readonly string[]): boolean {
  const key = canonicalKey(args)
  return state.rules.some((r) => r.chain === chain && r.key === key)
}

function valueAfter(args: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) if (names.includes(args[i]!)) return args[i + 1]
  return undefined
}
