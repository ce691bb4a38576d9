// `tscni gc`: releases what one network holds for attachments that are no longer valid — address reservations and
// firewall rules (masquerade, port mappings) — by running the roles' own GC in-process, as a runtime's GC would.
import { goField, parseJson } from '../decode/go-json.ts'
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { collectGarbage } from '../ipam/allocator.ts'
import type { Store } from '../ipam/store.ts'
import { formatIp, type Ip } from '../plugin/addr.ts'
import { parseValidAttachments, type ValidAttachment } from '../plugin/attachments.ts'
import type { Outcome } from '../plugin/dispatch.ts'
import { normalizeError } from '../plugin/errors.ts'
import type { CliIo } from './io.ts'
import { readOnlyStore, readReservations, type ReservationInfo } from './networks.ts'
import { DEFAULT_DNS_DIR } from './dns-names.ts'
import { parseOptions } from './options.ts'

const USAGE = 'usage: tscni gc --network NAME --valid FILE|- [--data-dir DIR] [--dns-dir DIR] [--dry-run]'

/** Runs `tscni gc`. */
export async function runGc(args: readonly string[], io: CliIo): Promise<Outcome> {
  const opts = parseOptions(args, { values: ['--network', '--valid', '--data-dir', '--dns-dir'], flags: ['--dry-run'] })
  const usage = (msg: string): Outcome => ({ stdout: '', stderr: `tscni gc: ${msg}\n${USAGE}\n`, exitCode: 2 })
  if (typeof opts === 'string') return usage(opts)
  const network = opts.values['--network']
  const validFrom = opts.values['--valid']
  if (!network) return usage('--network NAME is required')
  if (!validFrom) return usage('--valid FILE is required: the attachments still in use, as [{"containerID": "...", "ifname": "..."}] ("-" reads stdin; [] means none)')
  let valid: ValidAttachment[]
  try {
    valid = parseValidList(validFrom === '-' ? await io.readStdin() : readFileSync(validFrom, 'utf8'))
  } catch (err) {
    return usage(`cannot read the valid attachments from ${validFrom === '-' ? 'stdin' : validFrom}: ${normalizeError(err).message}`)
  }
  const dataDir = opts.values['--data-dir'] ?? DEFAULT_DATA_DIR
  const before = readReservations(dataDir, network)
  if (opts.flags.has('--dry-run')) return dryRun(network, dataDir, valid, before)

  const env = { CNI_COMMAND: 'GC', CNI_PATH: dirname(io.selfPath), PATH: io.env.PATH, TSCNI_LOG_LEVEL: io.env.TSCNI_LOG_LEVEL, TSCNI_LOG_FILE: io.env.TSCNI_LOG_FILE, TSCNI_STATE_DIR: io.env.TSCNI_STATE_DIR }
  const attachments = { 'cni.dev/valid-attachments': valid }
  // bridge GC releases reservations through host-local and removes stale masquerade rules; portmap GC removes
  // stale port mappings; both clean every usable firewall backend.
  const bridge = await io.runRole('bridge', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'bridge', ipMasq: true, ipam: { type: 'host-local', dataDir }, ...attachments }))
  const portmap = await io.runRole('portmap', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'portmap', ...attachments }))
  // dnsname GC removes the names of attachments that are gone and stops the network's DNS server when it is idle.
  const dns = await io.runRole('dnsname', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'dnsname', dataDir: opts.values['--dns-dir'] ?? DEFAULT_DNS_DIR, ...attachments }))
  // tuning and bandwidth GC remove the backups and ifbs of the attachments they recorded on the network.
  const tuning = await io.runRole('tuning', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'tuning', ...attachments }))
  const bandwidth = await io.runRole('bandwidth', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'bandwidth', ...attachments }))
  // firewall GC removes the forwarding rules (and a bridge's isolation with its last one) of attachments that are gone.
  const firewall = await io.runRole('firewall', env, JSON.stringify({ cniVersion: '1.1.0', name: network, type: 'firewall', ...attachments }))
  const after = new Set(readReservations(dataDir, network).map((r) => r.ip))
  const released = before.filter((r) => !after.has(r.ip))
  const lines = [
    ...released.map((r) => `released ${r.ip} (${owner(r)})`),
    `${released.length} address(es) released, ${after.size} kept; stale masquerade and port-mapping rules of network ${network} removed from every usable firewall backend, stale DNS names from its server`,
  ]
  const failures = [bridge, portmap, dns, tuning, bandwidth, firewall].filter((o) => o.exitCode !== 0).map((o) => String(goField(parseJson(o.stdout), 'msg')))
  return {
    stdout: `${lines.join('\n')}\n`,
    stderr: failures.map((f) => `tscni gc: ${f}\n`).join(''),
    exitCode: failures.length > 0 ? 1 : 0,
  }
}

/** Accepts the list itself or a config object carrying `cni.dev/valid-attachments` (or the older key). */
export function parseValidList(text: string): ValidAttachment[] {
  const doc: unknown = parseJson(text)
  const list = parseValidAttachments(Array.isArray(doc) ? { 'cni.dev/valid-attachments': doc } : (doc as Record<string, unknown>))
  if (list === undefined) throw new Error('expected a list of {"containerID", "ifname"} or an object with "cni.dev/valid-attachments"')
  return list
}

// The allocator's own GC decision, over a store whose release only records: what a real run would release.
function dryRun(network: string, dataDir: string, valid: readonly ValidAttachment[], before: readonly ReservationInfo[]): Outcome {
  const disk = readOnlyStore(dataDir, network)
  const would: Ip[] = []
  const recording: Store = {
    lock: () => disk.lock(),
    reservations: () => (disk.exists() ? disk.reservations() : []),
    reserve: () => false,
    release: (ip) => void would.push(ip),
    lastReserved: (id) => disk.lastReserved(id),
    setLastReserved: () => undefined,
  }
  collectGarbage(recording, valid)
  const names = new Set(would.map(formatIp))
  const stale = before.filter((r) => names.has(r.ip))
  const lines = [...stale.map((r) => `would release ${r.ip} (${owner(r)})`), `dry run: ${stale.length} of ${before.length} address(es) of network ${network} would be released; firewall rules are not listed here (tscni doctor lists stale rules)`]
  return { stdout: `${lines.join('\n')}\n`, stderr: '', exitCode: 0 }
}

function owner(r: ReservationInfo): string {
  return r.ifname === undefined ? `container ${r.containerId}, legacy id-only file` : `container ${r.containerId}, ${r.ifname}`
}
