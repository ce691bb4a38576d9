// The reconcile planner (pure): from the records and which namespaces still exist, the rules of every live
// attachment grouped per backend (DNS access merged per network, its server once per network), and the attachments whose namespace is gone (reboot, crash) to be released.
import type { BackendName } from '../firewall/backend.ts'
import type { DnsAccess, DnsAccessPair, FirewallIntent, SpoofCheck } from '../firewall/model.ts'
import { formatCidr, formatIp } from '../plugin/addr.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import type { ReconcileRole } from './role.ts'

/** A record and where it was read from. */
export type StoredRecord = AttachmentRecord & { readonly file: string }

/** Who an attachment is, for messages. */
export function describeRecord(r: AttachmentRecord): string {
  return `${r.role} ${r.network}/${r.containerId}/${r.ifname}`
}

/** What one reconcile pass does. */
export interface ReconcilePlan {
  /** Firewall intents of live attachments, per backend, in record order. */
  readonly firewall: ReadonlyMap<BackendName, ReadonlyArray<{ readonly record: StoredRecord; readonly intent: FirewallIntent }>>
  readonly spoofChecks: ReadonlyArray<{ readonly record: StoredRecord; readonly check: SpoofCheck }>
  /** DNS access per backend, one entry per network: the pairs of all its live attachments, first seen first. */
  readonly dns: ReadonlyMap<BackendName, ReadonlyArray<{ readonly records: readonly StoredRecord[]; readonly access: DnsAccess }>>
  /** The name server of each network (and data dir) with live attachments, and their hosts files. */
  readonly dnsServers: ReadonlyArray<DnsServerNeed>
  /** Records whose namespace no longer exists and whose owner the runtime no longer knows: to be released. */
  readonly stale: readonly StoredRecord[]
  /** Records whose namespace is gone but the runtime still lists: left alone (the runtime will DEL them). */
  readonly orphanedButCached: readonly StoredRecord[]
  /** Records (or parts of them) nobody could read. */
  readonly problems: readonly string[]
}

/** A network's name server that live attachments need. */
export interface DnsServerNeed {
  readonly records: readonly StoredRecord[]
  readonly dataDir: string
  readonly network: string
  readonly hostsFiles: readonly string[]
}

/** Facts the planner needs about the node. */
export interface NodeFacts {
  /** True when the record's namespace path still names a network namespace. */
  netnsAlive(path: string): boolean
  /** True when the runtime's cache still lists the attachment (network, container id, ifname). */
  cached(network: string, containerId: string, ifname: string): boolean
}

/** Plans one pass. A record of a role no part knows is reported, never acted on. */
export function planReconcile(records: readonly StoredRecord[], roles: readonly ReconcileRole[], facts: NodeFacts): ReconcilePlan {
  const firewall = new Map<BackendName, Array<{ record: StoredRecord; intent: FirewallIntent }>>()
  const spoofChecks: Array<{ record: StoredRecord; check: SpoofCheck }> = []
  const stale: StoredRecord[] = []
  const orphanedButCached: StoredRecord[] = []
  const problems: string[] = []
  // One DNS chain per network and backend holds every attachment's pairs (an ADD writes its own; a network with
  // several subnets has all of them restored).
  const dns = new Map<BackendName, Map<string, { records: StoredRecord[]; network: string; pairs: DnsAccessPair[] }>>()
  const dnsServers = new Map<string, { records: StoredRecord[]; dataDir: string; network: string; hostsFiles: string[] }>()
  for (const record of records) {
    const part = roles.find((r) => r.role === record.role)
    if (!part) {
      problems.push(`${record.file}: no reconcile part for role "${record.role}"`)
      continue
    }
    if (!record.netns || !facts.netnsAlive(record.netns)) {
      if (facts.cached(record.network, record.containerId, record.ifname)) orphanedButCached.push(record)
      else stale.push(record)
      continue
    }
    const { rules, problems: unreadable } = part.desired(record)
    problems.push(...unreadable.map((p) => `${record.file}: ${p}`))
    for (const rule of rules) {
      switch (rule.kind) {
        case 'firewall': {
          const list = firewall.get(rule.backend) ?? []
          // A node-wide intent (the loopback drop) is checked and restored once per backend, for its first record.
          if (rule.intent.kind === 'localnet-drop' && list.some((x) => x.intent.kind === 'localnet-drop')) break
          list.push({ record, intent: rule.intent })
          firewall.set(rule.backend, list)
          break
        }
        case 'spoof-check':
          spoofChecks.push({ record, check: rule.check })
          break
        case 'dns-access': {
          const networks = dns.get(rule.backend) ?? new Map<string, { records: StoredRecord[]; network: string; pairs: DnsAccessPair[] }>()
          dns.set(rule.backend, networks)
          const entry = networks.get(rule.access.network) ?? { records: [], network: rule.access.network, pairs: [] }
          networks.set(rule.access.network, entry)
          if (!entry.records.includes(record)) entry.records.push(record)
          const key = (p: DnsAccessPair) => `${formatIp(p.gateway)} ${formatCidr(p.subnet)}`
          for (const pair of rule.access.pairs) if (!entry.pairs.some((p) => key(p) === key(pair))) entry.pairs.push(pair)
          break
        }
        case 'dns-server': {
          const id = `${rule.dataDir}\u0000${rule.network}`
          const entry = dnsServers.get(id) ?? { records: [], dataDir: rule.dataDir, network: rule.network, hostsFiles: [] }
          dnsServers.set(id, entry)
          entry.records.push(record)
          entry.hostsFiles.push(rule.hostsFile)
          break
        }
        default: {
          const never: never = rule
          throw new Error(`unhandled rule ${JSON.stringify(never)}`)
        }
      }
    }
  }
  const dnsPlan = new Map([...dns].map(([backend, networks]) => [backend, [...networks.values()].map((n) => ({ records: n.records, access: { network: n.network, pairs: n.pairs } }))]))
  return { firewall, spoofChecks, dns: dnsPlan, dnsServers: [...dnsServers.values()], stale, orphanedButCached, problems }
}
