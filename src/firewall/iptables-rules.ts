// The reference plugins' iptables chains and rules, argument for argument (pkg/ip/ipmasq_iptables_linux.go and
// plugins/meta/portmap/portmap_iptables.go in containernetworking/plugins), as pure values.
import { formatCidr, formatIp, type IpFamily, type IpNet } from '../plugin/addr.ts'
import { formatChainName } from '../plugin/ids.ts'
import { hostMatch, loopbackHost } from './host-match.ts'
import type { Owner, PortmapIntent } from './model.ts'
import { goQuote, trimComment } from './iptables-text.ts'

/** Shared chains of the reference portmap; never renamed, never deleted. */
export const TOP_DNAT = 'CNI-HOSTPORT-DNAT'
export const SETMARK = 'CNI-HOSTPORT-SETMARK'
export const MARK_MASQ = 'CNI-HOSTPORT-MASQ'

/** The ipMasq chain of an owner: CNI-<hash(network + containerID)>; ifname is not part of it (reference). */
export function masqChain(owner: Owner): string {
  return formatChainName(owner.network, owner.containerId)
}

/** The ipMasq comment: name: "<net>" id: "<cid>" with Go %q quoting. */
export function masqComment(owner: Owner): string {
  return `name: ${goQuote(owner.network)} id: ${goQuote(owner.containerId)}`
}

/** The three ipMasq rules for one container address: two in the owner's chain and the POSTROUTING jump. */
export function masqRules(owner: Owner, addr: IpNet): { chain: string[][]; postrouting: string[] } {
  const c = masqComment(owner)
  const multicast = addr.ip.family === 4 ? '224.0.0.0/4' : 'ff00::/8'
  return {
    chain: [
      ['-d', formatCidr(addr), '-j', 'ACCEPT', '-m', 'comment', '--comment', c],
      ['!', '-d', multicast, '-j', 'MASQUERADE', '-m', 'comment', '--comment', c],
    ],
    postrouting: ['-s', formatIp(addr.ip), '-j', masqChain(owner), '-m', 'comment', '--comment', c],
  }
}

/** The per-container portmap chain: CNI-DN-<hash(network + containerID)>. */
export function dnatChain(owner: Owner): string {
  return formatChainName(owner.network, owner.containerId, 'DN-')
}

/** The legacy per-container SNAT chain an old reference version made; only ever removed. */
export function legacySnatChain(owner: Owner): string {
  return formatChainName(owner.network, owner.containerId, 'SN-')
}

/** The portmap jump comment: dnat name: "<net>" id: "<cid>", cut to iptables' 255 bytes. */
export function dnatComment(owner: Owner): string {
  return trimComment(`dnat name: ${goQuote(owner.network)} id: ${goQuote(owner.containerId)}`)
}

/** The mark value for a bit as Go's %#x/%#x: bit 13 is 0x2000/0x2000. */
export function markValue(bit: number): string {
  const hex = `0x${(2 ** bit).toString(16)}`
  return `${hex}/${hex}`
}

/** CNI-HOSTPORT-SETMARK's only rule. */
export function setMarkRule(bit: number): string[] {
  return ['-m', 'comment', '--comment', 'CNI portfwd masquerade mark', '-j', 'MARK', '--set-xmark', markValue(bit)]
}

/** CNI-HOSTPORT-MASQ's only rule. */
export function markMasqRule(bit: number): string[] {
  return ['-m', 'mark', '--mark', markValue(bit), '-j', 'MASQUERADE']
}

/** The POSTROUTING jump to CNI-HOSTPORT-MASQ, inserted at position 1 so ipMasq rules cannot pre-empt it. */
export const MARK_MASQ_ENTRY: readonly string[] = ['-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', MARK_MASQ]

/** The PREROUTING and OUTPUT jump to CNI-HOSTPORT-DNAT. */
export const TOP_DNAT_ENTRY: readonly string[] = ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', TOP_DNAT]

/**
 * The jumps from CNI-HOSTPORT-DNAT to the container chain: one per protocol (sorted) per 15 host ports
 * (multiport's limit), listing every mapping of that protocol, the family's conditions last. Without `-j`.
 */
export function dnatEntryRules(intent: PortmapIntent, family: IpFamily): string[][] {
  const byProto = new Map<string, number[]>()
  for (const m of intent.mappings) byProto.set(m.protocol, [...(byProto.get(m.protocol) ?? []), m.hostPort])
  const conditions = (family === 4 ? intent.conditionsV4 : intent.conditionsV6) ?? []
  const out: string[][] = []
  for (const proto of [...byProto.keys()].sort()) {
    const ports = byProto.get(proto)!
    for (let i = 0; i < ports.length; i += 15) {
      out.push(['-m', 'comment', '--comment', dnatComment(intent.owner), '-m', 'multiport', '-p', proto,
        '--destination-ports', ports.slice(i, i + 15).join(','), ...conditions])
    }
  }
  return out
}

/** The container chain's rules: per mapping of this family, hairpin mark, localhost mark (IPv4), DNAT. */
export function dnatRules(intent: PortmapIntent, container: IpNet): string[][] {
  const family = container.ip.family
  const markChain = intent.externalSetMarkChain ?? SETMARK
  const out: string[][] = []
  for (const m of intent.mappings) {
    const dst = hostMatch(m, family)
    if (dst === null) continue
    // A loopback host address: only packets this host sent (source type LOCAL), never a neighbour's or a pod's.
    const local = loopbackHost(m) ? ['-m', 'addrtype', '--src-type', 'LOCAL'] : []
    const base = ['-p', m.protocol, '--dport', String(m.hostPort), ...(dst ? ['-d', dst] : []), ...local]
    if (intent.snat) {
      out.push([...base, '-s', intent.masqAll ? (family === 4 ? '0.0.0.0/0' : '::/0') : formatCidr(container), '-j', markChain])
      if (family === 4 && !intent.masqAll) out.push([...base, '-s', '127.0.0.1', '-j', markChain])
    }
    const ip = formatIp(container.ip)
    out.push([...base, '-j', 'DNAT', '--to-destination', family === 4 ? `${ip}:${m.containerPort}` : `[${ip}]:${m.containerPort}`])
  }
  return out
}
