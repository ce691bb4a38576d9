// The checks across leases that keep one node from taking another's traffic (each lease alone is checked in
// leases.ts): a VTEP MAC must be the one derived from the lease's PublicIP, no two leases may share a PublicIP, a
// MAC or address space, and a PublicIP may not be a pod address or the segment's network or broadcast address.
// Whatever fails is refused on every side, with a warning: when two leases claim one thing, neither can be trusted.
// Pure.
import { formatCidr, lastAddress, netContains, networkAddress, networkOf, parseIp, type IpNet } from '../plugin/addr.ts'
import type { ClusterConfig } from './cluster-config.ts'
import type { Lease } from './leases.ts'
import { vtepMac } from './plan.ts'
import { subnetText } from './subnets.ts'

/** The leases that pass, and a warning for each one refused. */
export interface TrustedLeases {
  readonly leases: readonly Lease[]
  readonly warnings: readonly string[]
}

/** A value from the store cut for a log line: never more than `max` characters of someone else's text. */
export function cut(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`
}

/**
 * Refuses leases whose VTEP MAC is not derived from their PublicIP, whose PublicIP lies in the cluster network,
 * and every lease sharing a PublicIP, a VTEP MAC or overlapping address space with another. O(n log n).
 */
export function refuseUntrusted(candidates: readonly Lease[], config: ClusterConfig, subnetsPrefix: string): TrustedLeases {
  const refused = new Map<string, string>()
  const refuse = (l: Lease, why: string) => {
    if (!refused.has(l.key)) refused.set(l.key, why)
  }
  for (const l of candidates) {
    const ip = parseIp(l.publicIp)
    // A pod address as a node's underlay address would route the cluster through itself.
    if (ip && netContains(config.network, ip)) refuse(l, `its PublicIP ${l.publicIp} lies in the cluster network ${subnetText(config.network)}`)
    // The MAC is derived (plan.ts vtepMac), so a lease naming another node's MAC can only be a takeover attempt.
    else if (l.backendType === 'vxlan' && l.vtepMac !== vtepMac(l.publicIp)) refuse(l, `its VtepMAC ${l.vtepMac} is not the one derived from its PublicIP ${l.publicIp} (${vtepMac(l.publicIp)})`)
  }
  // Claims are compared among leases that passed the checks above: a lease naming another node's MAC is the
  // impostor and is refused alone, not together with its victim.
  const plausible = candidates.filter((l) => !refused.has(l.key))
  for (const [what, of] of [['PublicIP', (l: Lease) => l.publicIp], ['VtepMAC', (l: Lease) => l.vtepMac]] as const) {
    const holders = new Map<string, Lease[]>()
    for (const l of plausible) {
      const v = of(l)
      if (v !== undefined) holders.set(v, [...(holders.get(v) ?? []), l])
    }
    for (const [v, ls] of holders) {
      if (ls.length > 1) for (const l of ls) refuse(l, `its ${what} ${v} is also claimed by ${ls.filter((o) => o !== l).map((o) => o.key).slice(0, 3).join(', ')}`)
    }
  }
  for (const [a, b] of overlappingPairs(candidates)) {
    refuse(a, `it overlaps the lease ${b.key}`)
    refuse(b, `it overlaps the lease ${a.key}`)
  }
  const warnings = [...refused].map(([key, why]) => `ignoring lease ${JSON.stringify(subnetsPrefix + key)}: ${why}`)
  return { leases: candidates.filter((l) => !refused.has(l.key)), warnings }
}

/** Pairs of leases whose subnets overlap, found on the list sorted by first address (O(n log n)). */
export function overlappingPairs(leases: readonly Lease[]): Array<[Lease, Lease]> {
  const span = (l: Lease) => {
    const bits = l.subnet.ip.family === 4 ? 32 : 128
    const size = 1n << BigInt(bits - l.subnet.prefix)
    return { l, first: l.subnet.ip.value, last: l.subnet.ip.value + size - 1n, family: l.subnet.ip.family }
  }
  const sorted = leases.map(span).sort((a, b) => (a.family !== b.family ? a.family - b.family : a.first < b.first ? -1 : a.first > b.first ? 1 : 0))
  const pairs: Array<[Lease, Lease]> = []
  // The lease reaching furthest so far: any later lease starting before its end overlaps it.
  let widest: (typeof sorted)[number] | undefined
  for (const s of sorted) {
    if (widest && widest.family === s.family && s.first <= widest.last) pairs.push([widest.l, s.l])
    if (!widest || widest.family !== s.family || s.last > widest.last) widest = s
  }
  return pairs
}

/**
 * Refuses peers whose PublicIP is the network or broadcast address of this node's own segment: never a node, and
 * a host-gw route via it would send pod traffic to every host on the segment.
 */
export function refuseOnSegment(leases: readonly Lease[], segment: IpNet, subnetsPrefix: string): TrustedLeases {
  if (segment.ip.family !== 4 || segment.prefix >= 31) return { leases, warnings: [] }
  const network = networkAddress(segment).value
  const broadcast = lastAddress(segment).value
  const kindOf = (l: Lease) => {
    const ip = parseIp(l.publicIp)
    return ip?.value === network ? 'network' : ip?.value === broadcast ? 'broadcast' : undefined
  }
  return {
    leases: leases.filter((l) => kindOf(l) === undefined),
    warnings: leases.filter((l) => kindOf(l) !== undefined)
      .map((l) => `ignoring lease ${JSON.stringify(subnetsPrefix + l.key)}: its PublicIP ${l.publicIp} is the ${kindOf(l)} address of this node's segment ${formatCidr(networkOf(segment))}`),
  }
}
