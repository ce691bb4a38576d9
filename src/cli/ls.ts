// `tscni ls`: every network under a host-local data dir, how full its range sets are, and who holds each address.
import type { Outcome } from '../plugin/dispatch.ts'
import { DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { parseOptions } from './options.ts'
import { DEFAULT_CONF_DIR, readNodeIpam, type NodeIpam } from './networks.ts'
import { renderTable } from './table.ts'

/** Runs `tscni ls [--data-dir DIR] [--conf-dir DIR] [--json]`. */
export function runLs(args: readonly string[]): Outcome {
  const opts = parseOptions(args, { values: ['--data-dir', '--conf-dir'], flags: ['--json'] })
  if (typeof opts === 'string') return { stdout: '', stderr: `tscni ls: ${opts}\n`, exitCode: 2 }
  const node = readNodeIpam(opts.values['--data-dir'] ?? DEFAULT_DATA_DIR, opts.values['--conf-dir'] ?? DEFAULT_CONF_DIR)
  if (opts.flags.has('--json')) return { stdout: `${JSON.stringify(node, null, 2)}\n`, stderr: '', exitCode: 0 }
  return { stdout: renderLs(node), stderr: '', exitCode: 0 }
}

/** The human-readable listing (pure). */
export function renderLs(node: NodeIpam): string {
  if (node.networks.length === 0) return `no networks under ${node.dataDir}\n${notesText(node)}`
  const parts: string[] = []
  for (const net of node.networks) {
    parts.push(`network ${net.name}  (${net.dir}${net.configFile ? `, config ${net.configFile}` : ', no config found'})`)
    if (net.rangeSets?.length) {
      parts.push(indent(renderTable(['range set', 'used', 'size', 'full'], net.rangeSets.map((r) => [r.rangeSet, String(r.used), sizeText(r.size), percent(r.used, r.size)]))))
    }
    if (net.reservations.length === 0) parts.push('  no addresses reserved')
    else parts.push(indent(renderTable(['address', 'container', 'ifname'], net.reservations.map((r) => [r.ip, r.containerId, r.ifname ?? '(legacy: id only)']))))
    parts.push('')
  }
  return `${parts.join('\n')}${notesText(node)}`
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
