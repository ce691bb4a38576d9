// tscni's own record of one attachment per role: written atomically at ADD, removed at DEL, read by reconcile and
// by GC after a reboot. A small JSON file, so the runtime's cache (libcni's, not ours) is never relied upon.
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { goField } from '../decode/go-json.ts'
import { fileError } from './errors.ts'
import { hasErrno } from './fs-errors.ts'
import { sha256Hex } from './ids.ts'
import { randomBytes } from './random.ts'
import type { ValidAttachment } from './attachments.ts'
import type { NetConf } from './config.ts'
import type { CniEnv } from './env.ts'

/** Where records are kept unless the config (`stateDir`) or TSCNI_STATE_DIR says otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/tscni/attachments'

/** Which attachment a record belongs to, and which role wrote it. */
export interface RecordKey {
  readonly role: string
  readonly network: string
  readonly containerId: string
  readonly ifname: string
}

/** One record: what the role was given and what it answered, plus the rules it owns in its own serialised form. */
export interface AttachmentRecord extends RecordKey {
  readonly version: 1
  /** The network namespace path given at ADD (reboot safety compares it with what exists now). */
  readonly netns: string
  /** The plugin's network config as received on stdin (name = the config list's name under libcni). */
  readonly config: Readonly<Record<string, unknown>>
  /** The config's runtimeConfig, when any (port mappings, MAC...). */
  readonly runtimeConfig?: unknown
  /** The result the role returned. */
  readonly result?: unknown
  /** The role's rules (firewall intents, spoof check), in a form only that role's reconcile part reads. */
  readonly rules: unknown
  /** When the record was written (ISO 8601). */
  readonly createdAt: string
}

/** The record port handed to roles through the Context (absent in unit tests: nothing is recorded). */
export interface AttachmentRecords {
  /** Writes (replaces) the record atomically; `stateDir` from the config overrides the default. */
  write(record: AttachmentRecord, stateDir?: string): void
  /** Removes the record; a missing one is not an error. */
  remove(key: RecordKey, stateDir?: string): void
  /** The record of one attachment; undefined when there is none or it cannot be read (callers then assume nothing). */
  read(key: RecordKey, stateDir?: string): AttachmentRecord | undefined
  /** GC: removes `role`'s records on `network` whose attachment is not in `valid`; returns their keys. */
  prune(role: string, network: string, valid: readonly ValidAttachment[], stateDir?: string): RecordKey[]
  /** GC: like `prune`, returning the removed records themselves (a role that needs their config, tuning's dataDir). */
  pruneRecords?(role: string, network: string, valid: readonly ValidAttachment[], stateDir?: string): AttachmentRecord[]
  /** Throws an errno-classified CniError when records cannot be written there (STATUS). */
  assertWritable(stateDir?: string): void
  /** Every readable record of `role` (the firewall role counts a bridge's attachments with it); optional for fakes. */
  list?(role: string, stateDir?: string): AttachmentRecord[]
}

/** The file of a record: `<role>-<hash>.json`, the hash over network, container id and ifname (any characters). */
export function recordFile(key: RecordKey): string {
  const hash = sha256Hex(`${key.network}\u0000${key.containerId}\u0000${key.ifname}`).slice(0, 32)
  return `${key.role}-${hash}.json`
}

/** Records on disk under `defaultDir` (or a config's own `stateDir`). */
export function diskRecords(defaultDir: string): AttachmentRecords {
  return {
    write(record, stateDir) {
      const dir = stateDir || defaultDir
      const path = join(dir, recordFile(record))
      // Written beside the final name and renamed over it: a reader sees the old record or the new one, never half.
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        writeFileSync(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 })
        renameSync(tmp, path)
      } catch (err) {
        try {
          unlinkSync(tmp)
        } catch {
          // not written at all
        }
        throw fileError(`failed to write the attachment record ${path}`, path, err)
      }
    },
    read(key, stateDir) {
      try {
        const doc = JSON.parse(readFileSync(join(stateDir || defaultDir, recordFile(key)), 'utf8')) as Partial<AttachmentRecord>
        const same = doc.version === 1 && doc.role === key.role && doc.network === key.network && doc.containerId === key.containerId && doc.ifname === key.ifname
        return same ? (doc as AttachmentRecord) : undefined
      } catch {
        return undefined
      }
    },
    remove(key, stateDir) {
      const path = join(stateDir || defaultDir, recordFile(key))
      try {
        unlinkSync(path)
      } catch (err) {
        if (!hasErrno(err, 'ENOENT')) throw fileError(`failed to remove the attachment record ${path}`, path, err)
      }
    },
    assertWritable(stateDir) {
      const dir = stateDir || defaultDir
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        accessSync(dir, constants.W_OK)
      } catch (err) {
        throw fileError(`the state directory ${dir} is not writable`, dir, err)
      }
    },
    list(role, stateDir) {
      return readRecords(stateDir || defaultDir).records.filter((r) => r.role === role)
    },
    prune(role, network, valid, stateDir) {
      return this.pruneRecords!(role, network, valid, stateDir).map(({ role: ro, network: n, containerId, ifname }) => ({ role: ro, network: n, containerId, ifname }))
    },
    pruneRecords(role, network, valid, stateDir) {
      const keep = new Set(valid.map((a) => `${a.containerID}\u0000${a.ifname}`))
      const stale = readRecords(stateDir || defaultDir).records
        .filter((r) => r.role === role && r.network === network && !keep.has(`${r.containerId}\u0000${r.ifname}`))
      for (const r of stale) this.remove(r, stateDir)
      return stale.map(({ file: _file, ...r }) => r)
    },
  }
}

/** Every record of a state dir, and the files that are not records (with why). A missing dir holds none. */
export function readRecords(dir: string): { records: Array<AttachmentRecord & { file: string }>; unreadable: string[] } {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return { records: [], unreadable: [] }
    throw fileError('failed to list the attachment records', dir, err)
  }
  const records: Array<AttachmentRecord & { file: string }> = []
  const unreadable: string[] = []
  for (const name of names) {
    const file = join(dir, name)
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<AttachmentRecord>
      if (doc.version !== 1 || typeof doc.role !== 'string' || typeof doc.network !== 'string' || typeof doc.containerId !== 'string' || typeof doc.ifname !== 'string' || typeof doc.netns !== 'string') {
        unreadable.push(`${file}: not a version 1 attachment record`)
        continue
      }
      records.push({ ...(doc as AttachmentRecord), file })
    } catch (err) {
      if (hasErrno(err, 'ENOENT')) continue // removed by a DEL meanwhile
      unreadable.push(`${file}: ${err instanceof SyntaxError ? 'not JSON' : (err as Error).message}`)
    }
  }
  // In the order the attachments were added, so restored rules come back in their original order.
  records.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.file < b.file ? -1 : 1))
  return { records, unreadable }
}

/** What a record is made from: the verb's environment and config (a role's Context has both). */
export interface VerbFacts {
  readonly env: CniEnv
  readonly conf: NetConf
}

/** The record of the current ADD for `role`, with the config, runtimeConfig and netns taken from the context. */
export function recordOfAdd(ctx: VerbFacts, role: string, rules: unknown, result: unknown): AttachmentRecord {
  const runtimeConfig = ctx.conf.raw.runtimeConfig
  return {
    version: 1,
    role,
    network: ctx.conf.name,
    containerId: ctx.env.containerId,
    ifname: ctx.env.ifname,
    netns: ctx.env.netns,
    config: ctx.conf.raw,
    ...(runtimeConfig === undefined ? {} : { runtimeConfig }),
    ...(result === undefined ? {} : { result }),
    rules,
    createdAt: new Date().toISOString(),
  }
}

/** The key of the current verb's attachment for `role`. */
export function recordKeyOf(ctx: VerbFacts, role: string): RecordKey {
  return { role, network: ctx.conf.name, containerId: ctx.env.containerId, ifname: ctx.env.ifname }
}

/** The config's `stateDir` (bridge and portmap accept it), when it is a non-empty string. */
export function stateDirOf(raw: Readonly<Record<string, unknown>>): string | undefined {
  const value = goField(raw, 'stateDir')
  return typeof value === 'string' && value !== '' ? value : undefined
}
