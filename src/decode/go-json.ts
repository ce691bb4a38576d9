// Go-compatible JSON decoding for everything tscni reads (stdin configs, results, `ip -j` output): JSON text is
// parsed keeping track of number spelling, then shaped by a zod/mini schema the way Go's encoding/json fills a
// struct, then validated by that schema. The rules and every deliberate difference: docs/architecture.md,
// "Decoding like Go".
import type * as z from 'zod/mini'

type Json = Record<string, unknown>
type AnySchema = z.ZodMiniType

/** Where a value failed and why; the caller turns it into its own error type (code 6 or 7, SystemError). */
export interface DecodeIssue {
  /** Field path in canonical (schema) names, e.g. ["runtimeConfig", "portMappings", "0", "hostPort"]. */
  readonly path: readonly string[]
  readonly message: string
  /** The offending value as received; undefined when it is missing. */
  readonly value: unknown
  /** True when the value is present but spelled as a JSON literal Go refuses for this field (8080.0). */
  readonly literal?: string
}

const FLOAT_LITERAL: unique symbol = Symbol('tscni.floatLiteral')

/**
 * A whole number written with a fraction or an exponent ("8080.0", "8e3"). JSON.parse cannot tell it from 8080,
 * but Go refuses it for an integer field ("cannot unmarshal number 8080.0 into Go struct field ... of type int"),
 * so the spelling is kept until a schema says which kind of number the field holds.
 */
interface FloatLiteral {
  readonly [FLOAT_LITERAL]: true
  readonly value: number
  readonly source: string
  toJSON(): number
}

function isFloatLiteral(v: unknown): v is FloatLiteral {
  return typeof v === 'object' && v !== null && FLOAT_LITERAL in v
}

/**
 * A value (a schema, usually) built at its first use and kept: zod schemas built at module level cost every call
 * their construction, used or not, and a plugin call is a whole process (start-up is budgeted, BENCHMARKS.md).
 */
export function lazily<T>(build: () => T): () => T {
  let value: T | undefined
  let built = false
  return () => {
    if (!built) {
      value = build()
      built = true
    }
    return value as T
  }
}

/**
 * JSON.parse that remembers how integral numbers with a fraction or exponent were spelled (the reviver's
 * `context.source`, ECMAScript "JSON.parse source text access", in V8 since 11.4). Throws SyntaxError.
 */
export function parseJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) return value
    const source = context?.source
    if (source === undefined || !/[.eE]/.test(source)) return value
    const literal: FloatLiteral = { [FLOAT_LITERAL]: true, value, source, toJSON: () => value }
    return literal
  })
}

/**
 * Go's case folding of a JSON object key for matching a struct field (encoding/json `foldName`): ASCII letters
 * without case, and the two non-ASCII runes whose simple fold orbit holds an ASCII letter — U+017F (long s) and
 * U+212A (Kelvin sign) — match "s" and "k". Other characters must match exactly.
 */
export function goFold(key: string): string {
  return key.replace(/[A-Z\u017f\u212a]/g, (c) => (c === '\u017f' ? 's' : c === '\u212a' ? 'k' : c.toLowerCase()))
}

/**
 * The value Go would store in field `name` of a struct decoded from `obj`: every key that is `name` exactly or
 * folds to it assigns in document order, so the last one wins; a null leaves the field as it was.
 */
export function goField(obj: unknown, name: string): unknown {
  if (!isPlainObject(obj)) return undefined
  const folded = goFold(name)
  let out: unknown
  for (const [key, value] of Object.entries(obj)) {
    if (value === null) continue
    if (key === name || goFold(key) === folded) out = value
  }
  return plain(out)
}

/**
 * Decodes `value` as Go would fill the type `schema` describes, then validates it with the schema. Returns the
 * schema's output, or the first issue.
 */
export function decodeWith<S extends AnySchema>(schema: S, value: unknown): { ok: true; data: z.output<S> } | { ok: false; issue: DecodeIssue } {
  let shaped: unknown
  try {
    shaped = shape(schema, value, [])
  } catch (thrown) {
    if (isIssue(thrown)) return { ok: false, issue: thrown }
    throw thrown
  }
  const parsed = schema['~standard'].validate(shaped)
  if (parsed instanceof Promise) throw new Error('decodeWith: asynchronous schemas are not supported')
  if (!parsed.issues) return { ok: true, data: parsed.value as z.output<S> }
  const first = parsed.issues[0]!
  const path = (first.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p))
  return { ok: false, issue: { path, message: first.message, value: valueAt(shaped, path) } }
}

/** decodeWith, throwing the caller's error built from the issue's text (configs are code 7, results code 6). */
export function decodeOrThrow<S extends AnySchema>(schema: S, value: unknown, where: string, makeError: (text: string) => Error): z.output<S> {
  const decoded = decodeWith(schema, value)
  if (decoded.ok) return decoded.data
  throw makeError(describeIssue(decoded.issue, where))
}

/** "invalid a.b.0.c: <why> (got <value>)", or "(missing)". */
export function describeIssue(issue: DecodeIssue, where: string): string {
  const path = [where, ...issue.path].filter((p) => p !== '').join('.')
  const shown = issue.literal !== undefined ? `got ${issue.literal}` : issue.value === undefined ? 'missing' : `got ${truncate(JSON.stringify(issue.value))}`
  return `invalid ${path}: ${issue.message} (${shown})`
}

function truncate(text: string | undefined): string {
  if (text === undefined) return 'undefined'
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

const ISSUE: unique symbol = Symbol('tscni.decodeIssue')

function isIssue(v: unknown): v is DecodeIssue {
  return typeof v === 'object' && v !== null && ISSUE in v
}

type Def = {
  type: string
  innerType?: AnySchema
  in?: AnySchema
  shape?: Record<string, AnySchema>
  element?: AnySchema
  valueType?: AnySchema
  options?: AnySchema[]
  getter?: () => AnySchema
  format?: string
  checks?: Array<{ _zod: { def: { check?: string; format?: string } } }>
}

const defOf = (schema: AnySchema): Def => (schema as unknown as { _zod: { def: Def } })._zod.def

// Walks value and schema together: object keys renamed to their field names, Go's null and number rules applied.
function shape(schema: AnySchema, value: unknown, path: readonly string[]): unknown {
  const def = defOf(schema)
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return shape(def.innerType!, value, path)
    case 'pipe':
      return shape(def.in!, value, path)
    case 'lazy':
      return shape(def.getter!(), value, path)
    case 'object':
      return isPlainObject(value) ? shapeObject(def.shape!, value, path) : plain(value)
    case 'array':
      return Array.isArray(value) ? value.map((item, i) => shape(def.element!, item, [...path, String(i)])) : plain(value)
    case 'record':
      return isPlainObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(def.valueType!, v, [...path, k])])) : plain(value)
    case 'union':
      return shapeUnion(def.options!, value, path)
    case 'number':
      if (isFloatLiteral(value) && isIntegerSchema(def)) {
        const issue: DecodeIssue & { [ISSUE]: true } = {
          [ISSUE]: true,
          path,
          message: 'an integer field takes no fraction or exponent (Go refuses it)',
          value: value.value,
          literal: value.source,
        }
        throw issue
      }
      return plain(value)
    default:
      return plain(value)
  }
}

// Go: an exact key match first, else a case-insensitive one; keys assign in document order (the last wins); a
// null leaves a field as it was (Go resets only slices, maps and pointers, which read as absent here anyway).
function shapeObject(fields: Record<string, AnySchema>, obj: Json, path: readonly string[]): Json {
  const names = Object.keys(fields)
  const out: Json = {}
  for (const [key, value] of Object.entries(obj)) {
    // JSON.parse keeps "__proto__" as an own key, but assigning it to `out` would replace the prototype and hand its
    // fields to the schema by inheritance. No Go struct field is named so, and Go ignores a key matching no field.
    if (key === '__proto__') continue
    const field = Object.hasOwn(fields, key) ? key : names.find((name) => goFold(name) === goFold(key))
    if (field === undefined) {
      if (!Object.hasOwn(out, key)) out[key] = plain(value) // unknown: kept for loose objects, stripped by others
      continue
    }
    if (value === null) continue
    out[field] = shape(fields[field]!, value, [...path, field])
  }
  return out
}

// A union is shaped by the first option that then validates; without one, the value stays as it is.
function shapeUnion(options: readonly AnySchema[], value: unknown, path: readonly string[]): unknown {
  for (const option of options) {
    try {
      const candidate = shape(option, value, path)
      const result = option['~standard'].validate(candidate)
      if (!(result instanceof Promise) && !result.issues) return candidate
    } catch (thrown) {
      if (!isIssue(thrown)) throw thrown
    }
  }
  return plain(value)
}

const INTEGER_FORMATS = new Set(['safeint', 'int32', 'uint32', 'int64', 'uint64'])

function isIntegerSchema(def: Def): boolean {
  if (def.format && INTEGER_FORMATS.has(def.format)) return true
  return (def.checks ?? []).some((c) => c._zod.def.check === 'number_format' && INTEGER_FORMATS.has(c._zod.def.format ?? ''))
}

/** The value with every remembered number spelling dropped (for parts no schema describes). */
export function plain(value: unknown): unknown {
  if (isFloatLiteral(value)) return value.value
  if (Array.isArray(value)) return value.some(needsPlain) ? value.map(plain) : value
  if (isPlainObject(value)) return Object.values(value).some(needsPlain) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) : value
  return value
}

function needsPlain(v: unknown): boolean {
  return isFloatLiteral(v) || Array.isArray(v) || isPlainObject(v)
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isFloatLiteral(v)
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let cur: unknown = value
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}
