// Decodes stdin: JSON, the version gate per verb, the base network config, and decoding issues as code-7 errors.
import type * as z from 'zod/mini'
import { decodeOrThrow, goField, parseJson } from '../decode/go-json.ts'
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
    raw = parseJson(stdin)
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
  const name = goField(obj, 'name')
  if (name === undefined || name === '') throw invalidConfig('missing network name')
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw invalidConfig(`invalid characters found in network name: ${JSON.stringify(name)}`, String(name))
  }
  const type = goField(obj, 'type')
  return { cniVersion, name, type: typeof type === 'string' ? type : '', raw: obj }
}

function readVersion(obj: Record<string, unknown>): string {
  const v = goField(obj, 'cniVersion')
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
 * Decodes a config value with a zod/mini schema the way Go's encoding/json would (keys matched case-insensitively
 * at every depth, null as absent, no fraction in an integer). The first issue becomes a code-7 error naming the
 * field path (relative to `where`) and the offending value, so an operator can find it in the file.
 */
export function parseConfigPart<S extends z.ZodMiniType>(schema: S, value: unknown, where: string): z.output<S> {
  return decodeOrThrow(schema, value, where, (text) => invalidConfig(text))
}

/** A top-level config field read as Go reads it (exact key, else case-insensitive; the last match wins). */
export function configField(conf: NetConf, name: string): unknown {
  return goField(conf.raw, name)
}
