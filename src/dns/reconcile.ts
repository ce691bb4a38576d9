// dnsname's part in reconcile: what its attachment record keeps (the port 53 access it installed, through which
// backend, and where the network's server lives) and the rules read back from it.
import type { BackendName } from '../firewall/backend.ts'
import type { DnsAccess, DnsAccessPair } from '../firewall/model.ts'
import { formatCidr, formatIp, parseCidr, parseIp } from '../plugin/addr.ts'
import type { AttachmentRecord } from '../plugin/attachment-record.ts'
import { attachmentFile, legacyAttachmentFile } from './plan.ts'

/** The `rules` of a dnsname record, as JSON. */
export interface DnsRecordedRules {
  readonly backend: BackendName
  /** Gateway and subnet pairs as text ("10.88.0.1", "10.88.0.0/16"). */
  readonly pairs: ReadonlyArray<{ readonly gateway: string; readonly subnet: string }>
  readonly dataDir: string
  /** The attachment's hosts file name; absent in records of tscni 0.1.0, which used the old name. */
  readonly hostsFile?: string
}

/** What the record of a DNS ADD keeps. */
export function dnsRecordedRules(backend: BackendName, access: DnsAccess, dataDir: string, hostsFile?: string): DnsRecordedRules {
  return { backend, pairs: access.pairs.map((p) => ({ gateway: formatIp(p.gateway), subnet: formatCidr(p.subnet) })), dataDir, ...(hostsFile !== undefined ? { hostsFile } : {}) }
}

/** Port 53 open from a network's subnets to its gateways (one chain per network, shared by its attachments). */
export interface DnsAccessRule {
  readonly kind: 'dns-access'
  readonly backend: BackendName
  readonly access: DnsAccess
}

/** A network's name server running while the attachment (its hosts file under `dataDir`) is there. */
export interface DnsServerRule {
  readonly kind: 'dns-server'
  readonly dataDir: string
  readonly network: string
  /** The attachment's hosts file name in the network's hosts directory. */
  readonly hostsFile: string
}

/** The rules a dnsname record asks for, and what in it could not be read. Pure. */
export function dnsRulesOfRecord(record: AttachmentRecord): { rules: Array<DnsAccessRule | DnsServerRule>; problems: string[] } {
  const doc = (record.rules ?? {}) as Partial<Record<keyof DnsRecordedRules, unknown>>
  const problems: string[] = []
  const rules: Array<DnsAccessRule | DnsServerRule> = []
  if (typeof doc.dataDir === 'string' && doc.dataDir.startsWith('/')) {
    const current = attachmentFile(record.containerId, record.ifname)
    const hostsFile = doc.hostsFile === current ? current : legacyAttachmentFile(record.containerId, record.ifname)
    rules.push({ kind: 'dns-server', dataDir: doc.dataDir, network: record.network, hostsFile })
  } else {
    problems.push('DNS record without a data directory')
  }
  if (doc.backend !== 'iptables' && doc.backend !== 'nftables') {
    problems.push('DNS record without a firewall backend')
    return { rules, problems }
  }
  const pairs: DnsAccessPair[] = []
  for (const p of Array.isArray(doc.pairs) ? (doc.pairs as Array<Record<string, unknown>>) : []) {
    const gateway = typeof p?.gateway === 'string' ? parseIp(p.gateway) : undefined
    const subnet = typeof p?.subnet === 'string' ? parseCidr(p.subnet) : undefined
    if (gateway && subnet && gateway.family === subnet.ip.family) pairs.push({ gateway, subnet })
    else problems.push(`DNS access pair ${JSON.stringify(p)} is not a gateway and subnet of one family`)
  }
  if (pairs.length > 0) rules.push({ kind: 'dns-access', backend: doc.backend, access: { network: record.network, pairs } })
  else problems.push('DNS record without gateway and subnet pairs')
  return { rules, problems }
}

/** dnsname's reconcile part (a ReconcileRole, see reconcile/role.ts); records carry the role name of the plugin. */
export const dnsReconcile = { role: 'dnsname', desired: dnsRulesOfRecord }
