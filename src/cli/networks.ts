// Reads what a node holds for people: host-local reservations under a data dir and the network configs in a
// config dir that allocate from them (for range sizes). Read-only: takes no lock and changes nothing.
import { goField, parseJson } from '../decode/go-json.ts'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { compareIp, formatIp, parseIp } from '../plugin/addr.ts'
import { parseCniArgs } from '../plugin/env.ts'
import { normalizeError } from '../plugin/errors.ts'
import { parseIpamConfig, DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { rangeCapacity, rangeFor, rangeSetToString, type RangeSet } from '../ipam/range.ts'
import { DiskStore } from '../ipam/disk-store.ts'
import { parseOwner } from '../ipam/store.ts'
import type { Locker } from '../system/index.ts'

/** Where `ls`, `gc` and `doctor` look by default. */
export const DEFAULT_CONF_DIR = '/etc/cni/net.d'

/** One reserved address. `ifname` is undefined for a legacy id-only file. */
export interface ReservationInfo {
  readonly ip: string
  readonly containerId: string
  readonly ifname: string | undefined
}

/** How full one range set is. */
export interface RangeSetUsage {
  readonly rangeSet: string
  readonly used: number
  /** Usable addresses (gateway excluded), as text: IPv6 sizes exceed a JS number. */
  readonly size: string
}

/** A network directory under the data dir, with the config that allocates from it when one was found. */
export interface NetworkInfo {
  readonly name: string
  readonly dir: string
  readonly configFile?: string
  readonly rangeSets?: readonly RangeSetUsage[]
  readonly reservations: readonly ReservationInfo[]
}

/** Everything `ls` shows about a node. */
export interface NodeIpam {
  readonly dataDir: string
  readonly confDir: string
  readonly networks: readonly NetworkInfo[]
  /** Problems met while reading (an unreadable config, say): reported, never fatal. */
  readonly notes: readonly string[]
}

/** A host-local config found in the config dir. */
interface FoundConfig {
  readonly file: string
  readonly name: string
  readonly dataDir: string
  readonly rangeSets: readonly RangeSet[]
}

/** Reads every network directory of `dataDir`, matching configs from `confDir` by name and data dir. */
export function readNodeIpam(dataDir: string = DEFAULT_DATA_DIR, confDir: string = DEFAULT_CONF_DIR): NodeIpam {
  const notes: string[] = []
  const configs = readConfigs(confDir, notes)
  const networks = listDirs(dataDir).map((name): NetworkInfo => {
    const dir = join(dataDir, name)
    const reservations = readReservations(dataDir, name)
    const config = configs.find((c) => c.name === name && c.dataDir === dataDir)
    const rangeSets = config?.rangeSets.map((set) => usageOf(set, reservations))
    return { name, dir, ...(config ? { configFile: config.file, rangeSets } : {}), reservations }
  })
  return { dataDir, confDir, networks, notes }
}

/** A network's store for reading only: `ls`, `gc --dry-run` and `doctor` take no lock and change nothing. */
export function readOnlyStore(dataDir: string, network: string): DiskStore {
  return new DiskStore({ dataDir, network }, NO_LOCK)
}

const NO_LOCK: Locker = { acquire: () => Promise.reject(new Error('a read-only view of the reservations takes no lock')) }

/** The reservations of one network, sorted by address, read by host-local's own store (`lock`, `last_reserved_ip.*` skipped). */
export function readReservations(dataDir: string, network: string): ReservationInfo[] {
  const store = readOnlyStore(dataDir, network)
  if (!store.exists()) return []
  return store
    .reservations()
    .sort((a, b) => compareIp(a.ip, b.ip))
    .map((r) => {
      const owner = parseOwner(r.content)
      return { ip: formatIp(r.ip), containerId: owner.containerId, ifname: owner.ifname }
    })
}

function usageOf(set: RangeSet, reservations: readonly ReservationInfo[]): RangeSetUsage {
  const used = reservations.filter((r) => {
    const ip = parseIp(r.ip)
    return ip !== undefined && rangeFor(set, ip) !== undefined
  }).length
  const size = set.reduce((sum, range) => sum + rangeCapacity(range), 0n)
  return { rangeSet: rangeSetToString(set), used, size: size.toString() }
}

// Config lists (*.conflist) and single configs (*.conf, *.json) whose plugins use host-local IPAM.
function readConfigs(confDir: string, notes: string[]): FoundConfig[] {
  const out: FoundConfig[] = []
  for (const file of safeList(confDir).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort()) {
    const path = join(confDir, file)
    let doc: Record<string, unknown>
    try {
      doc = parseJson(readFileSync(path, 'utf8')) as Record<string, unknown>
    } catch (err) {
      notes.push(`${path}: not valid JSON (${(err as Error).message})`)
      continue
    }
    // libcni reads config files with Go's encoding/json: keys match case-insensitively.
    const list = goField(doc, 'plugins')
    const plugins = Array.isArray(list) ? (list as Array<Record<string, unknown>>) : [doc]
    for (const plugin of plugins) {
      const ipamType = goField(goField(plugin, 'ipam'), 'type')
      if (!['host-local', 'tscni-host-local'].includes(String(ipamType))) continue
      const name = String(goField(doc, 'name') ?? '')
      const raw = { ...plugin, name, cniVersion: String(goField(doc, 'cniVersion') ?? '1.0.0') }
      try {
        const conf = parseIpamConfig({ cniVersion: raw.cniVersion, name, type: String(goField(plugin, 'type') ?? ''), raw }, parseCniArgs(''))
        out.push({ file: path, name, dataDir: conf.location.dataDir, rangeSets: conf.rangeSets })
      } catch (err) {
        notes.push(`${path}: network "${name}": ${normalizeError(err).message}`)
      }
    }
  }
  return out
}

function listDirs(dir: string): string[] {
  return safeList(dir).filter((name) => {
    try {
      return statSync(join(dir, name)).isDirectory()
    } catch {
      return false
    }
  }).sort()
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
