// The node's firewall, planned as text: cluster-aware masquerade (pod to pod keeps its source, pod to outside is
// masqueraded once) and forwarding accepted for the cluster CIDR, for iptables and for nftables. Pure.

/** Which tool holds the node's masquerade. */
export type NodeFirewallBackend = 'iptables' | 'nftables'

/** The chains and table the node owns; everything else is left alone. */
export const NAT_CHAIN = 'TSCNI-POSTRTG'
export const FWD_CHAIN = 'TSCNI-FWD'
export const NFT_TABLE = 'tscni-node'
const MASQ_JUMP_COMMENT = 'tscni node masquerade'
const FWD_JUMP_COMMENT = 'tscni node forward'

/** The address family of one set of rules: IPv4 (iptables, nft `ip`) or IPv6 (ip6tables, nft `ip6`). */
export type RuleFamily = 4 | 6

/** Multicast is never masqueraded: 224.0.0.0/4 (RFC 5771) and ff00::/8 (RFC 4291 2.7). */
const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const

/** What the rules are about: the cluster CIDR and this node's pod subnet (both of one family). */
export interface FirewallScope {
  readonly cluster: string
  readonly subnet: string
}

/** The jump rules of ours found in an iptables-save text (as saved, "-A ..."). */
export function ourJumps(saved: string, chain: string, target: string): string[] {
  return saved.split('\n').filter((line) => line.startsWith(`-A ${chain} `) && line.endsWith(`-j ${target}`))
}

/** True when iptables-save declares the chain. */
export function hasChain(saved: string, chain: string): boolean {
  return saved.split('\n').some((line) => line.startsWith(`:${chain} `))
}

/**
 * The iptables-restore --noflush script for the nat table: declaring our chain flushes it, so its rules are
 * always exactly these; the jump from POSTROUTING is added once (kept after the first run).
 */
export function iptablesNatScript(s: FirewallScope, savedNat: string, family: RuleFamily = 4): string {
  const lines = [
    '*nat',
    `:${NAT_CHAIN} - [0:0]`,
    `-A ${NAT_CHAIN} -s ${s.subnet} -d ${s.cluster} -m comment --comment "pod to pod keeps its source" -j RETURN`,
    `-A ${NAT_CHAIN} -s ${s.subnet} -d ${MULTICAST[family]} -m comment --comment "multicast is never masqueraded" -j RETURN`,
    `-A ${NAT_CHAIN} -s ${s.subnet} -m comment --comment "pod to outside" -j MASQUERADE --random-fully`,
  ]
  if (ourJumps(savedNat, 'POSTROUTING', NAT_CHAIN).length === 0) lines.push(`-A POSTROUTING -m comment --comment "${MASQ_JUMP_COMMENT}" -j ${NAT_CHAIN}`)
  return `${[...lines, 'COMMIT'].join('\n')}\n`
}

/**
 * The filter-table script: forwarding from and to the cluster CIDR accepted in iptables FORWARD itself, first,
 * because a DROP policy there (Docker sets one) wins over an accept in any other table (flannel's
 * Documentation/troubleshooting.md).
 */
export function iptablesFilterScript(s: FirewallScope, savedFilter: string): string {
  const lines = [
    '*filter',
    `:${FWD_CHAIN} - [0:0]`,
    `-A ${FWD_CHAIN} -s ${s.cluster} -m comment --comment "from pods" -j ACCEPT`,
    `-A ${FWD_CHAIN} -d ${s.cluster} -m comment --comment "to pods" -j ACCEPT`,
  ]
  if (ourJumps(savedFilter, 'FORWARD', FWD_CHAIN).length === 0) lines.push(`-I FORWARD 1 -m comment --comment "${FWD_JUMP_COMMENT}" -j ${FWD_CHAIN}`)
  return `${[...lines, 'COMMIT'].join('\n')}\n`
}

/** The script removing our chain and every jump to it from a table; undefined when there is nothing of ours. */
export function iptablesRemoveScript(table: 'nat' | 'filter', saved: string): string | undefined {
  const [from, chain] = table === 'nat' ? ['POSTROUTING', NAT_CHAIN] : ['FORWARD', FWD_CHAIN]
  const jumps = ourJumps(saved, from, chain)
  const exists = hasChain(saved, chain)
  if (jumps.length === 0 && !exists) return undefined
  const lines = [`*${table}`, ...jumps.map((j) => `-D${j.slice(2)}`), ...(exists ? [`-F ${chain}`, `-X ${chain}`] : []), 'COMMIT']
  return `${lines.join('\n')}\n`
}

/**
 * The nft script that replaces our table atomically (add, delete, define in one transaction): masquerade as
 * above and a forward accept, which helps where iptables is absent (with iptables present its FORWARD gets the
 * accept too, see iptablesFilterScript).
 */
export function nftScript(s: FirewallScope, family: RuleFamily = 4): string {
  // One table per family (`ip`, `ip6`) rather than one `inet` table, so the IPv4 table stays as it always was.
  const [table, ip] = family === 4 ? ['ip', 'ip'] : ['ip6', 'ip6']
  return [
    `add table ${table} ${NFT_TABLE}`,
    `delete table ${table} ${NFT_TABLE}`,
    `table ${table} ${NFT_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ${ip} saddr ${s.subnet} ${ip} daddr ${s.cluster} return comment "pod to pod keeps its source"`,
    `    ${ip} saddr ${s.subnet} ${ip} daddr ${MULTICAST[family]} return comment "multicast is never masqueraded"`,
    `    ${ip} saddr ${s.subnet} masquerade fully-random comment "pod to outside"`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    ${ip} saddr ${s.cluster} accept comment "from pods"`,
    `    ${ip} daddr ${s.cluster} accept comment "to pods"`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** The nft script removing our table (a no-op when it does not exist: add first, then delete). */
export function nftRemoveScript(family: RuleFamily = 4): string {
  const table = family === 4 ? 'ip' : 'ip6'
  return `add table ${table} ${NFT_TABLE}\ndelete table ${table} ${NFT_TABLE}\n`
}
