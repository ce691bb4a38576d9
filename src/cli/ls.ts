// `tscni ls`: every network under a host-local data dir, how full its range sets are, who holds each address, and
// the names the DNS role publishes on it.
import type { Outcome } from '../plugin/dispatch.ts'
import { DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { DEFAULT_DNS_DIR, readDnsNames, type DnsEntry } from './dns-names.ts'
import { parseOptions } from './options.ts'
import { DEFAULT_CONF_DIR, readNodeIpam, type NodeIpam } from './networks.ts'
import { renderTable } from './table.ts'

/** Runs `tscni ls [--data-dir DIR] [--conf-dir DIR] [--dns-dir DIR] [--json]`. */
export function runLs(args: readonly string[]): Outcome {
  const opts = parseOptions(args, { values: ['--data-dir', '--conf-dir', '--dns-dir'], flags: ['--json'] })
  if (typeof opts === 'string') return { stdout: '', stderr: `tscni ls: ${opts}\n`, exitCode: 2 }
  const node = readNodeIpam(opts.values['--data-dir'] ?? DEFAULT_DATA_DIR, opts.values['--conf-dir'] ?? DEFAULT_CONF_DIR)
  const dns = readDnsNames(opts.values['--dns-dir'] ?? DEFAULT_DNS_DIR)
  if (opts.flags.has('--json')) return { stdout: `${JSON.stringify({ ...node, dns: Object.fromEntries(dns) }, null, 2)}\n`, stderr: '', exitCode: 0 }
  return { stdout: renderLs(node, dns), stderr: '', exitCode: 0 }
}

/** The human-readable listing (pure). */
export function renderLs(node: NodeIpam, dns: ReadonlyMap<string, readonly DnsEntry[]> = new Map()): string {
  const dnsOnly = [...dns.keys()].filter((n) => !node.networks.some((net) => net.name === n))
  const dnsText = dnsOnly.map((n) => `network ${n}  (DNS only: no reservations under ${node.dataDir})\n${namesText(dns.get(n)!)}\n`).join('')
  if (node.networks.length === 0) return `no networks under ${node.dataDir}\n${dnsText}${notesText(node)}`
  const parts: string[] = []
  for (const net of node.networks) {
    parts.push(`network ${net.name}  (${net.dir}${net.configFile ? `, config ${net.configFile}` : ', no config found'})`)
    if (net.rangeSets?.length) {
      parts.push(indent(renderTable(['range set', 'used', 'size', 'full'], net.rangeSets.map((r) => [r.rangeSet, String(r.used), sizeText(r.size), percent(r.used, r.size)]))))
    }
    if (net.reservations.length === 0) parts.push('  no addresses reserved')
    else parts.push(indent(renderTable(['address', 'container', 'ifname'], net.reservations.map((r) => [r.ip, r.containerId, r.ifname ?? '(legacy: id only)']))))
    const names = dns.get(net.name)
    if (names) parts.push(namesText(names))
    parts.push('')
  }
  return `${parts.join('\n')}${dnsText}${notesText(node)}`
}

function namesText(entries: readonly DnsEntry[]): string {
  if (entries.length === 0) return '  no DNS names'
  return indent(renderTable(['DNS name', 'address', 'attachment'], entries.map((e) => [e.names.join(', ') || '(none)', e.address, e.attachment])))
}

// IPv6 range sizes have 20 digits: show them as powers of two.
function sizeText(size: string): string {
  const n = BigInt(size)
  if (n < 1_000_000_000n) return size
  return `~2^${n.toString(2).length - 1}`
}

function percent(used: number, size: string): string {
  const n = BigInt(size)
  if (n === 0n) return '-'
  const tenths = (BigInt(used) * 1000n) / n
  return `${tenths / 10n}.${tenths % 10n}%`
}

function indent(text: string): string {
  return text.split('\n').map((line) => `  ${line}`).join('\n')
}

function notesText(node: NodeIpam): string {
  return node.notes.map((n) => `note: ${n}\n`).join('')
}
