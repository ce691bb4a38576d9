// Doctor's checks of attachments (pure): reservations whose container is gone (leaks), and firewall rules
// whose owner has neither a reservation nor a runtime record (stale).
import { iptablesOwners, nftOwners, ownedBy, type FirewallOwner, type KnownAttachment, type OwnerSource } from '../firewall/owners.ts'
import type { Check, DoctorFacts, ListingFact } from './doctor-model.ts'
import type { CacheEntry } from './runtime-cache.ts'

/** Reservation checks, then firewall owner checks. */
export function attachmentChecks(f: DoctorFacts): Check[] {
  return [...reservationChecks(f), ...staleRuleChecks(f)]
}

/** One host-local reservation with its network. */
interface Held {
  readonly network: string
  readonly ip: string
  readonly containerId: string
  readonly ifname: string | undefined
}

function heldAddresses(f: DoctorFacts): Held[] {
  return f.node.networks.flatMap((n) => n.reservations.map((r) => ({ network: n.name, ip: r.ip, containerId: r.containerId, ifname: r.ifname })))
}

// The cache entries of a reservation; a legacy id-only reservation matches any interface of its container.
function entriesOf(held: Held, entries: readonly CacheEntry[]): CacheEntry[] {
  return entries.filter((e) => e.network === held.network && e.containerId === held.containerId && (held.ifname === undefined || e.ifname === held.ifname))
}

function who(held: Held): string {
  return `network ${held.network} ${held.ip}: container ${held.containerId} ${held.ifname === undefined ? '(legacy reservation, ifname unknown)' : `ifname ${held.ifname}`}`
}

function leakRemedy(held: Held): string {
  return `tscni gc --network ${held.network} --valid FILE (FILE lists the attachments still in use), or a CNI DEL for container ${held.containerId}${held.ifname === undefined ? '' : ` ifname ${held.ifname}`} on network ${held.network} (DEL needs no namespace)`
}

function reservationChecks(f: DoctorFacts): Check[] {
  const held = heldAddresses(f)
  const cache = f.cache
  const out: Check[] = []
  for (const note of cache.unreadable) out.push({ check: 'runtime cache', status: 'warn', detail: `skipped ${note}` })
  if (held.length === 0) return [...out, { check: 'reservations', status: 'ok', detail: `no addresses reserved under ${f.node.dataDir}` }]
  if (!cache.present) {
    return [...out, {
      check: 'reservations',
      status: 'info',
      detail: `${held.length} address(es) reserved; ${cache.cacheDir}/results does not exist, so they cannot be checked against the runtime's records (use --cache-dir if the runtime keeps them elsewhere)`,
    }]
  }
  let live = 0
  let leaked = 0
  let unrecorded = 0
  for (const h of held) {
    const entries = entriesOf(h, cache.entries)
    if (entries.length === 0) {
      unrecorded++
      out.push({ check: 'no runtime record', status: 'warn', detail: `${who(h)}: no entry in ${cache.cacheDir}/results, probably leaked (or added by a runtime that keeps no cache there)`, remedy: leakRemedy(h) })
      continue
    }
    // Alive when any of its entries names a namespace that still exists (or names none: nothing to disprove).
    const gone = entries.filter((e) => e.netns !== '' && f.netns[e.netns] !== undefined && f.netns[e.netns] !== 'ok')
    if (gone.length < entries.length) {
      live++
      continue
    }
    leaked++
    const why = gone.map((e) => `${e.netns} ${f.netns[e.netns] === 'missing' ? 'no longer exists' : 'is not a network namespace'}`).join('; ')
    out.push({ check: 'leak', status: 'fail', detail: `${who(h)}: the container is gone (${why})`, remedy: leakRemedy(h) })
  }
  const summary = `${held.length} address(es) reserved: ${live} with a live namespace, ${leaked} leaked, ${unrecorded} without a runtime record`
  // The leaks have their own lines: the count is information, so one leak is one problem in the summary.
  out.push({ check: 'reservations', status: leaked + unrecorded > 0 ? 'info' : 'ok', detail: summary })
  return out
}

// Attachments the node knows: reservations and runtime records. Rules owned by none of them are stale.
function knownAttachments(f: DoctorFacts): KnownAttachment[] {
  return [
    ...heldAddresses(f).map((h) => ({ network: h.network, containerId: h.containerId, ifname: h.ifname })),
    ...f.cache.entries.map((e) => ({ network: e.network, containerId: e.containerId, ifname: e.ifname })),
  ]
}

const PARSERS: Readonly<Record<OwnerSource, (text: string) => FirewallOwner[]>> = {
  iptables: (text) => iptablesOwners(text, 'iptables'),
  ip6tables: (text) => iptablesOwners(text, 'ip6tables'),
  nftables: nftOwners,
}

function staleRuleChecks(f: DoctorFacts): Check[] {
  const known = knownAttachments(f)
  const out: Check[] = []
  const owners: FirewallOwner[] = []
  const read: string[] = []
  for (const source of ['iptables', 'ip6tables', 'nftables'] as const) {
    const listing: ListingFact = f.listings[source]
    if (listing.text === undefined) {
      out.push({ check: 'firewall rules', status: 'info', detail: `${source} rules not checked: ${listing.error ?? 'not read'}` })
      continue
    }
    try {
      owners.push(...PARSERS[source](listing.text))
      read.push(source)
    } catch (err) {
      out.push({ check: 'firewall rules', status: 'warn', detail: `${source} listing not understood: ${(err as Error).message}` })
    }
  }
  const stale = owners.filter((o) => !known.some((att) => ownedBy(o, att)))
  for (const o of stale) {
    const names = `network ${o.network} container ${o.containerId || '(cut from the comment)'}${o.ifname === undefined ? '' : ` ifname ${o.ifname}`}`
    out.push({
      check: 'stale rules',
      status: 'fail',
      detail: `${o.source} ${o.kind === 'portmap' ? 'port mapping' : 'masquerade'} rules (${o.rules}) of ${names}: no reservation under ${f.node.dataDir} and no runtime record (if that network keeps its reservations elsewhere, run doctor with its --data-dir)`,
      remedy: `a CNI DEL of that attachment through the network's config list removes them (DEL needs neither the namespace nor the reservation)`,
    })
  }
  if (read.length > 0 && stale.length === 0) {
    out.push({ check: 'firewall rules', status: 'ok', detail: owners.length === 0 ? `no CNI rules in ${read.join(', ')}` : `${owners.length} owner(s) of CNI rules in ${read.join(', ')}, each with a reservation or runtime record` })
  }
  return out
}
