// iptables text: Go %q quoting (reference comments), restore-file quoting, tokenising, and a canonical rule key.
import { formatCidr, parseIpOrCidr, networkOf } from '../plugin/addr.ts'

/**
 * Go's %q for the strings the reference puts in comments: backslash and double quote escaped, control
 * characters as \n, \t, \r or \xNN. Matching it byte for byte is what lets GC recognise the reference's rules.
 */
export function goQuote(text: string): string {
  let out = '"'
  for (const ch of text) {
    const code = ch.codePointAt(0)!
    if (ch === '\\' || ch === '"') out += `\\${ch}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += ch
  }
  return `${out}"`
}

/** The reference's trimComment: iptables comments hold 255 bytes, so longer ones keep 253 and end in "...". */
export function trimComment(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  return bytes.length <= 255 ? text : `${bytes.subarray(0, 253).toString('utf8')}...`
}

/** One argument as iptables-restore reads it: bare when safe, otherwise double-quoted with \ and " escaped. */
export function restoreQuote(arg: string): string {
  if (/^[A-Za-z0-9_.,:/!+=@%[\]-]+$/.test(arg)) return arg
  return `"${arg.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/** A restore-file line: an operation (-A, -D, -I CHAIN 1 ...) on a chain with its arguments. */
export function ruleLine(op: string, chain: string, args: readonly string[]): string {
  return [op, chain, ...args.map(restoreQuote)].join(' ')
}

/** Splits an iptables-save rule into arguments: double quotes group, backslash escapes the next character. */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inToken = false
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i]
      inToken = true
    } else if (ch === '"') {
      quoted = !quoted
      inToken = true
    } else if (!quoted && (ch === ' ' || ch === '\t')) {
      if (inToken) out.push(cur)
      cur = ''
      inToken = false
    } else {
      cur += ch
      inToken = true
    }
  }
  if (inToken) out.push(cur)
  return out
}

// Long option spellings iptables-save prints in their short form.
const ALIASES: Readonly<Record<string, string>> = {
  '--source': '-s', '--destination': '-d', '--protocol': '-p', '--jump': '-j', '--goto': '-g',
  '--in-interface': '-i', '--out-interface': '-o', '--match': '-m',
  '--destination-ports': '--dports', '--destination-port': '--dport', '--source-ports': '--sports', '--source-port': '--sport',
}
const ADDRESS_OPTS = new Set(['-s', '-d'])
const BASE_OPTS = new Set(['-s', '-d', '-p', '-i', '-o'])
// Protocol matches iptables loads implicitly for --dport and prints explicitly as "-m tcp".
const IMPLICIT = new Set(['tcp', 'udp', 'sctp'])

/**
 * An order-insensitive key for a rule, equal for what we render and what iptables-save prints back: it
 * prints addresses with their network and prefix, short option names, implicit "-m tcp", and its own match
 * order. Used for idempotency (is this rule there?) and for CHECK.
 */
export function canonicalKey(args: readonly string[]): string {
  const base: string[] = []
  const groups: { owner: string; opts: string[] }[] = []
  let proto = ''
  let last: { owner: string; opts: string[] } | undefined
  let negate = false
  const group = (owner: string): { owner: string; opts: string[] } => {
    const g = { owner, opts: [] as string[] }
    groups.push(g)
    return g
  }
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!
    if (raw === '!') { negate = true; continue }
    const opt = ALIASES[raw] ?? raw
    const neg = negate ? '! ' : ''
    negate = false
    if (BASE_OPTS.has(opt)) {
      const value = args[++i] ?? ''
      const address = ADDRESS_OPTS.has(opt) ? normaliseAddress(value) : undefined
      // iptables-save omits a match on any address (0.0.0.0/0, ::/0): drop it so such a rule (masqAll) matches.
      if (address !== undefined && !neg && /^(0\.0\.0\.0|::)\/0$/.test(address)) continue
      base.push(`${neg}${opt} ${address ?? value}`)
      if (opt === '-p') proto = value
    } else if (opt === '-m') {
      const mod = args[++i] ?? ''
      // "-m tcp" is what iptables prints for the implicit protocol match; its options are keyed by protocol below.
      if (!IMPLICIT.has(mod)) last = group(`m ${mod}`)
    } else if (opt === '-j' || opt === '-g') {
      last = group(`${opt} ${args[++i] ?? ''}`)
    } else if (opt.startsWith('-')) {
      const values: string[] = []
      while (i + 1 < args.length && !args[i + 1]!.startsWith('-') && args[i + 1] !== '!') values.push(args[++i]!)
      const text = `${neg}${opt}${values.length ? ` ${values.join(' ')}` : ''}`
      const target = PROTO_OPTS.has(opt) || !last ? groups.find((g) => g.owner === `proto ${proto}`) ?? group(`proto ${proto}`) : last
      target.opts.push(text)
    } else {
      base.push(raw)
    }
  }
  return [...base, ...groups.map((g) => [g.owner, ...g.opts].join(' '))].sort().join(' | ')
}

// Options of the protocol match itself (tcp/udp/sctp), as opposed to multiport's --dports.
const PROTO_OPTS = new Set(['--dport', '--sport', '--tcp-flags', '--syn', '--chunk-types'])

// iptables stores addresses as network/prefix and prints host routes with /32 or /128.
function normaliseAddress(text: string): string {
  const net = parseIpOrCidr(text)
  return net ? formatCidr(networkOf(net)) : text
}
