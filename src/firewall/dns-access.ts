// DNS access through the host firewall: udp and tcp port 53 to a network's gateways accepted from its subnets and
// dropped from everyone else (other networks' pods, LAN hosts routing to the node: no names, PTRs or recursion for
// them), per network in objects of its own (an iptables chain jumped from INPUT, an nft base chain on the input
// hook), so one transaction installs or replaces them and removal needs no addresses. Runs under the firewall lock.
// The firewall does this rather than dnsmasq: its `local-service` has no effect once `listen-address` is given
// (dnsmasq(8)), and dnsmasq's per-client filtering cannot tell one local subnet from another.
import { formatCidr, formatIp, networkOf, type IpFamily } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { sha256Hex } from '../plugin/ids.ts'
import type { Locker, Netfilter } from '../system/index.ts'
import type { BackendName } from './backend.ts'
import { locked, nodeLock, type LockDeps } from './lock.ts'
import type { DnsAccess } from './model.ts'
import { parseNftList } from './nft-json.ts'

/** The nft table holding one base chain per network. */
export const DNS_TABLE = 'inet tscni-dns'

/** The iptables chain of a network: a hash keeps it within the 28-character limit for any network name. */
export function iptablesDnsChain(network: string): string {
  return `TSCNI-DNS-${sha256Hex(network).slice(0, 16).toUpperCase()}`
}

/** The comment on the INPUT jump and the nft rules (network names hold no quotes or spaces). */
export function dnsComment(network: string): string {
  return `tscni-dns:${network}`
}

/** The nft base chain of a network. */
export function nftDnsChain(network: string): string {
  return `dns-${network}`
}

function pairsOf(access: DnsAccess, family: IpFamily) {
  return access.pairs.filter((p) => p.gateway.family === family && p.subnet.ip.family === family)
}

/** The gateways of the pairs of one family, each once. */
function gatewaysOf(access: DnsAccess, family: IpFamily): string[] {
  return [...new Set(pairsOf(access, family).map((p) => formatIp(p.gateway)))]
}

/** The rules of the network's chain as iptables-save prints them (so CHECK compares text): accepts, then drops. */
export function iptablesDnsRules(access: DnsAccess, family: IpFamily): string[] {
  const chain = iptablesDnsChain(access.network)
  const host = family === 4 ? 32 : 128
  return [
    ...pairsOf(access, family).flatMap((p) => (['udp', 'tcp'] as const).map((proto) =>
      `-A ${chain} -s ${formatCidr(networkOf(p.subnet))} -d ${formatIp(p.gateway)}/${host} -p ${proto} -m ${proto} --dport 53 -j ACCEPT`)),
    ...gatewaysOf(access, family).flatMap((gw) => (['udp', 'tcp'] as const).map((proto) =>
      `-A ${chain} -d ${gw}/${host} -p ${proto} -m ${proto} --dport 53 -j DROP`)),
  ]
}

/** The INPUT jump as iptables-save prints it. */
export function iptablesDnsJump(network: string): string {
  return `-A INPUT -m comment --comment "${dnsComment(network)}" -j ${iptablesDnsChain(network)}`
}

/** iptables-restore script (filter table) replacing the network's chain; '' when the family has no pair. */
export function renderIptablesDnsEnsure(access: DnsAccess, family: IpFamily, filterSave: string): string {
  const rules = iptablesDnsRules(access, family)
  if (rules.length === 0) return ''
  const chain = iptablesDnsChain(access.network)
  const saved = filterSave.split('\n')
  const jumped = saved.includes(iptablesDnsJump(access.network))
  // Every ADD on the network lands here: when the chain holds exactly these rules, there is nothing to apply.
  if (jumped && saved.filter((l) => l.startsWith(`-A ${chain} `)).join('\n') === rules.join('\n')) return ''
  // ":CHAIN" flushes the chain if it exists: it is this network's own, so that replaces its rules atomically.
  const lines = [`:${chain} - [0:0]`, ...rules]
  if (!jumped) lines.push(`-I INPUT 1 ${iptablesDnsJump(access.network).slice('-A INPUT '.length)}`)
  return `*filter\n${lines.join('\n')}\nCOMMIT\n`
}

/** iptables-restore script removing the network's jumps and chain; '' when nothing is there. */
export function renderIptablesDnsRemove(network: string, filterSave: string): string {
  const chain = iptablesDnsChain(network)
  const lines = filterSave.split('\n')
  const jumps = lines.filter((l) => l.startsWith('-A INPUT ') && l.endsWith(` -j ${chain}`)).map((l) => `-D ${l.slice(3)}`)
  const exists = lines.some((l) => l.startsWith(`:${chain} `))
  if (!exists && jumps.length === 0) return ''
  return `*filter\n${[...jumps, ...(exists ? [`-F ${chain}`, `-X ${chain}`] : [])].join('\n')}\nCOMMIT\n`
}

/** The comment on the nft drop rules (the accepts carry dnsComment). */
export function dnsDropComment(network: string): string {
  return `tscni-dns-drop:${network}`
}

/** nft script replacing the network's base chain: accepts, then drops. */
export function renderNftDnsEnsure(access: DnsAccess): string {
  const chain = `${DNS_TABLE} ${nftDnsChain(access.network)}`
  const comment = `comment "${dnsComment(access.network)}"`
  const rules = access.pairs.map((p) => {
    const fam = p.gateway.family === 4 ? 'ip' : 'ip6'
    return `add rule ${chain} ${fam} saddr ${formatCidr(networkOf(p.subnet))} ${fam} daddr ${formatIp(p.gateway)} meta l4proto { tcp, udp } th dport 53 accept ${comment}`
  })
  for (const family of [4, 6] as const) {
    for (const gw of gatewaysOf(access, family)) {
      rules.push(`add rule ${chain} ${family === 4 ? 'ip' : 'ip6'} daddr ${gw} meta l4proto { tcp, udp } th dport 53 drop comment "${dnsDropComment(access.network)}"`)
    }
  }
  return [
    `add table ${DNS_TABLE}`,
    // An accept here does not override a drop in another table at the same hook (nft semantics); it opens port 53
    // where the drop is this host's own default policy in a chain that consults it, as netavark's rule does.
    `add chain ${chain} { type filter hook input priority filter - 1 ; policy accept ; }`,
    `flush chain ${chain}`,
    ...rules,
    '',
  ].join('\n')
}

/** How many accept rules the network's nft chain must hold. */
export function nftDnsRuleCount(access: DnsAccess): number {
  return access.pairs.length
}

/** How many drop rules the network's nft chain must hold: one per gateway. */
export function nftDnsDropCount(access: DnsAccess): number {
  return gatewaysOf(access, 4).length + gatewaysOf(access, 6).length
}

/** The firewall operations of the DNS role, over the netfilter tools and the firewall lock. */
export interface DnsFirewall {
  ensure(backend: BackendName, access: DnsAccess): Promise<void>
  /** Installs several networks' access in one transaction (per family for iptables): reconcile. */
  ensureAll(backend: BackendName, accesses: readonly DnsAccess[]): Promise<void>
  /** Removes the network's objects from every backend given (DEL of the last attachment, GC). */
  remove(backends: readonly BackendName[], network: string): Promise<void>
  /** Names what is missing (CHECK); empty when everything is in place. */
  missing(backend: BackendName, access: DnsAccess): Promise<string[]>
}

/** Builds the DNS firewall; `lock` defaults to the node's firewall lock. */
export function createDnsFirewall(sys: { netfilter: Netfilter; locker: Locker }, lock: LockDeps = nodeLock(sys.locker)): DnsFirewall {
  const nf = sys.netfilter
  const families = (access: DnsAccess): IpFamily[] => ([4, 6] as const).filter((f) => pairsOf(access, f).length > 0)
  const nftChain = (network: string) => ['chain', ...DNS_TABLE.split(' '), nftDnsChain(network)]
  // Every network's chain in one nft -f, or per family in one iptables-restore: the scripts touch disjoint chains.
  const ensureAll = (backend: BackendName, accesses: readonly DnsAccess[]) => locked(lock, async () => {
    if (accesses.length === 0) return
    if (backend === 'nftables') return nf.nftApply(accesses.map(renderNftDnsEnsure).join(''))
    for (const family of [4, 6] as const) {
      const wanted = accesses.filter((a) => families(a).includes(family))
      if (wanted.length === 0) continue
      const save = await nf.save(family, 'filter')
      const bodies = wanted.map((a) => renderIptablesDnsEnsure(a, family, save)).filter((script) => script !== '')
        .map((script) => script.slice('*filter\n'.length, -'COMMIT\n'.length))
      if (bodies.length > 0) await nf.restore(family, `*filter\n${bodies.join('')}COMMIT\n`)
    }
  })
  return {
    ensure: (backend, access) => ensureAll(backend, [access]),
    ensureAll,
    remove: (backends, network) => locked(lock, async () => {
      for (const backend of backends) {
        if (backend === 'nftables') {
          if ((await nf.nftList(nftChain(network))) === undefined) continue
          await nf.nftApply(`flush chain ${DNS_TABLE} ${nftDnsChain(network)}\ndelete chain ${DNS_TABLE} ${nftDnsChain(network)}\n`)
          const table = await nf.nftList(['table', ...DNS_TABLE.split(' ')])
          if (table !== undefined && parseNftList(table).chains.size === 0) await nf.nftApply(`delete table ${DNS_TABLE}\n`)
          continue
        }
        for (const family of [4, 6] as const) {
          if (!(await nf.iptablesUsable(family))) continue
          const script = renderIptablesDnsRemove(network, await nf.save(family, 'filter'))
          if (script) await nf.restore(family, script)
        }
      }
    }),
    async missing(backend, access) {
      if (backend === 'nftables') {
        const json = await nf.nftList(nftChain(access.network))
        if (json === undefined) return [`nft chain ${DNS_TABLE} ${nftDnsChain(access.network)}`]
        const rules = parseNftList(json).rules
        const count = (comment: string) => rules.filter((r) => r.comment === comment).length
        const where = `nft chain ${DNS_TABLE} ${nftDnsChain(access.network)}`
        const accepts = nftDnsRuleCount(access) - count(dnsComment(access.network))
        const drops = nftDnsDropCount(access) - count(dnsDropComment(access.network))
        return [...(accepts > 0 ? [`${accepts} accept rule(s) in ${where}`] : []), ...(drops > 0 ? [`${drops} drop rule(s) for other sources in ${where}`] : [])]
      }
      const out: string[] = []
      for (const family of families(access)) {
        const lines = new Set((await nf.save(family, 'filter')).split('\n'))
        const tool = family === 4 ? 'iptables' : 'ip6tables'
        for (const want of [iptablesDnsJump(access.network), ...iptablesDnsRules(access, family)]) if (!lines.has(want)) out.push(`${tool}: ${want}`)
      }
      return out
    },
  }
}

/** CHECK's error for missing DNS access rules. */
export function missingDnsAccessError(network: string, missing: readonly string[]): CniError {
  return new CniError(ErrorCode.Internal, `DNS firewall rules of network "${network}" are missing: ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`, { details: missing.join('\n') })
}
