// Reads libcni's result cache (<cacheDir>/results/<network>-<containerID>-<ifname>): the runtime's record of
// every attachment it added and has not deleted, with the namespace path it used. Read-only.
import * as z from 'zod/mini'
import { decodeWith, goField, parseJson } from '../decode/go-json.ts'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** libcni's default cache dir: results live under <cacheDir>/results. */
export const DEFAULT_CACHE_DIR = '/var/lib/cni'

/** One cached attachment. */
export interface CacheEntry {
  readonly file: string
  readonly network: string
  readonly containerId: string
  readonly ifname: string
  /** The namespace path given at ADD; '' when the runtime recorded none. */
  readonly netns: string
}

/** The runtime cache as found. */
export interface RuntimeCache {
  readonly cacheDir: string
  /** False when `<cacheDir>/results` does not exist: reservations cannot be cross-checked. */
  readonly present: boolean
  readonly entries: readonly CacheEntry[]
  /** Files that are not cniCacheV1 entries, with the reason. */
  readonly unreadable: readonly string[]
}

/** Parses one cache file's content; a string says why it is not a usable entry. */
export function parseCacheEntry(file: string, text: string): CacheEntry | string {
  let doc: unknown
  try {
    doc = parseJson(text)
  } catch {
    return 'not JSON'
  }
  // libcni writes the cache with Go's encoding/json; it is read like every other input (src/decode/go-json.ts).
  if (goField(doc, 'kind') !== 'cniCacheV1') return 'not a cniCacheV1 entry'
  const decoded = decodeWith(cacheSchema, doc)
  if (!decoded.ok) return 'containerId, ifName or networkName missing'
  const { containerId, ifName, networkName, netns } = decoded.data
  return { file, network: networkName, containerId, ifname: ifName, netns: netns ?? '' }
}

const cacheSchema = z.object({ containerId: z.string(), ifName: z.string(), networkName: z.string(), netns: z.optional(z.string()) })

/** Reads every entry of `<cacheDir>/results`. */
export function readRuntimeCache(cacheDir: string): RuntimeCache {
  const dir = join(cacheDir, 'results')
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch {
    return { cacheDir, present: false, entries: [], unreadable: [] }
  }
  const entries: CacheEntry[] = []
  const unreadable: string[] = []
  for (const name of names) {
    const file = join(dir, name)
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      unreadable.push(`${file}: ${(err as Error).message}`)
      continue
    }
    const entry = parseCacheEntry(file, text)
    if (typeof entry === 'string') unreadable.push(`${file}: ${entry}`)
    else entries.push(entry)
  }
  return { cacheDir, present: true, entries, unreadable }
}
