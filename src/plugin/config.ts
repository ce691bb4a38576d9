// Decodes stdin: JSON, the version gate per verb, the base network config, and zod issues as code-7 errors.
import * as z from 'zod/mini'
import { CniError, ErrorCode, invalidConfig } from './errors.ts'
import type { Verb } from './env.ts'
import { compareVersions, isSupportedVersion, parseVersion, SUPPORTED_VERSIONS } from './version.ts'

/** The fields every plugin config has, plus the whole object for role-specific schemas. */
export interface NetConf {
  readonly cniVersion: string
  readonly name: string
  readonly type: string
  /** The decoded stdin object, unmodified. */
  readonly raw: Readonly<Record<string, unknown>>
}

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

// The minimum verb version (the reference skel, pkg/skel in containernetworking/cni): CHECK needs 0.4.0, GC and STATUS need 1.1.0.
const MIN_VERSION: Partial<Record<Verb, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' }

/**
 * Parses stdin into a NetConf for `verb`: code 6 for bad JSON, code 1 for a version the verb cannot use, code 7
 * for a bad name. `onVersion` learns a supported config version before the gate, so errors can carry it.
 */
export function decodeNetConf(stdin: string, verb: Verb, onVersion?: (version: string) => void): NetConf {
  let raw: unknown
  try {
    raw = JSON.parse(stdin)
  } catch (err) {
    throw new CniError(ErrorCode.DecodingFailure, `error parsing network config: ${(err as Error).message}`, { cause: err })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(ErrorCode.DecodingFailure, 'error parsing network config: stdin must hold a JSON object')
  }
  const obj = raw as Record<string, unknown>
  const cniVersion = readVersion(obj)
  if (isSupportedVersion(cniVersion)) onVersion?.(cniVersion)
  checkVersionGate(verb, cniVersion)
  const name = obj.name
  if (name === undefined || name === '') throw invalidConfig('missing network name')
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw invalidConfig(`invalid characters found in network name: ${JSON.stringify(name)}`, String(name))
  }
  const type = typeof obj.type === 'string' ? obj.type : ''
  return { cniVersion, name, type, raw: obj }
}

function readVersion(obj: Record<string, unknown>): string {
  const v = obj.cniVersion
  if (v === undefined || v === '') return '0.1.0' // the reference's reading of a missing version
  if (typeof v !== 'string') throw new CniError(ErrorCode.DecodingFailure, `cniVersion must be a string, got ${JSON.stringify(v)}`)
  parseVersion(v)
  return v
}

function checkVersionGate(verb: Verb, version: string): void {
  const min = MIN_VERSION[verb]
  if (min && compareVersions(version, min) < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${verb}`, {
      details: `config is "${version}", ${verb} needs ${min} or newer`,
    })
  }
  if (!isSupportedVersion(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, 'incompatible CNI versions', {
      details: `config is "${version}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    })
  }
}

/**
 * Runs a zod schema over a config value. The first issue becomes a code-7 error naming the field path
 * (relative to `where`) and the offending value, so an operator can find it in the file.
 */
export function parseConfigPart<S extends z.ZodMiniType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const path = [where, ...issue.path.map(String)].filter((p) => p !== '').join('.')
  const bad = valueAt(value, issue.path)
  const shown = bad === undefined ? 'missing' : `got ${truncate(JSON.stringify(bad))}`
  return failWith(path, issue.message, shown)
}

function failWith(path: string, message: string, shown: string): never {
  throw invalidConfig(`invalid ${path}: ${message} (${shown})`)
}

function valueAt(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = value
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

function truncate(text: string | undefined): string {
  if (text === undefined) return 'undefined'
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/**
 * Go's JSON decoding matches keys case-insensitively, so reference configs in the field contain "IPAM" or
 * "RuntimeConfig". For each canonical key missing from `obj`, copy the value of a case-insensitive match.
 */
export function canonicalKeys(obj: Readonly<Record<string, unknown>>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj }
  const lower = new Map(Object.keys(obj).map((k) => [k.toLowerCase(), k]))
  for (const key of keys) {
    if (key in out) continue
    const found = lower.get(key.toLowerCase())
    if (found !== undefined) out[key] = obj[found]
  }
  return out
}
