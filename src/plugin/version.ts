// Spec versions: the supported list, comparison, and conversion of results between every version's shape.
import { CniError, ErrorCode } from './errors.ts'
import { parseCidr, parseIp } from './addr.ts'
import { isEmptyDns, type Result, type ResultIp, type ResultRoute } from './result.ts'
import { decodeOrThrow, goField, lazily } from '../decode/go-json.ts'
import * as z from 'zod/mini'

/** Every spec version tscni speaks, oldest first (the reference plugins' `version.All`). */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
/** The newest version: what tscni speaks when it has no config to follow. */
export const LATEST_VERSION = '1.1.0'

/** Parses "X.Y.Z" into numbers; code 6 names the field and value when it is not a version. */
export function parseVersion(text: string, field = 'cniVersion'): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (!m) throw new CniError(ErrorCode.DecodingFailure, `invalid version "${text}" in ${field}: expected MAJOR.MINOR.PATCH`)
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** Negative, zero or positive as a < b, a == b, a > b. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a)
  const y = parseVersion(b)
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/** True for one of the seven supported versions. */
export function isSupportedVersion(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version)
}

/**
 * The VERSION reply. The spec (section "VERSION") lets a runtime send `{"cniVersion"}` on stdin, but tscni never
 * reads stdin for VERSION (a runtime may send nothing and keep the pipe open), so the reply names the newest
 * version, as the reference plugins' skel package does.
 */
export function versionReply(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] }
}

type Json = Record<string, unknown>

// Results are decoded like configs (src/decode/go-json.ts): Go's types.Result reads keys case-insensitively too.
const schemas = lazily(() => {
  const str = z.string('expected a string')
  const text = z.optional(str)
  const int = z.optional(z.int('expected an integer'))
  const list = <T extends z.ZodMiniType>(item: T) => z.optional(z.array(item, 'expected a list'))
  const routeSchema = z.object({ dst: str, gw: text, mtu: int, advmss: int, priority: int, table: int, scope: int }, 'expected an object')
  const dnsSchema = z.object({ nameservers: list(str), domain: text, search: list(str), options: list(str) }, 'expected an object')
  const currentSchema = z.object({
    interfaces: list(z.object({ name: str, mac: text, mtu: int, sandbox: text, socketPath: text, pciID: text }, 'expected an object')),
    ips: list(z.object({ address: str, gateway: text, interface: int }, 'expected an object')),
    routes: list(routeSchema),
    dns: z.optional(dnsSchema),
  })
  const legacyIpSchema = z.object({ ip: str, gateway: text, routes: list(routeSchema) }, 'expected an object')
  const legacySchema = z.object({ ip4: z.optional(legacyIpSchema), ip6: z.optional(legacyIpSchema), dns: z.optional(dnsSchema) })
  return { currentSchema, legacySchema }
})

function decodeFailure(msg: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, msg)
}

/**
 * Reads a result of any supported version into the internal shape. `version` is the config's cniVersion,
 * used when the result carries none (libcni parses prevResult in the config's version).
 */
export function decodeResult(raw: unknown, version: string, what = 'result'): Result {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw decodeFailure(`${what} is not a JSON object`)
  const stated = goField(raw, 'cniVersion')
  const resultVersion = typeof stated === 'string' && stated !== '' ? stated : version
  if (!isSupportedVersion(resultVersion)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `${what} has unsupported cniVersion "${resultVersion}"`)
  }
  return compareVersions(resultVersion, '0.3.0') < 0 ? decodeLegacy(raw, resultVersion, what) : decodeCurrent(raw, resultVersion, what)
}

function decodeCurrent(raw: unknown, version: string, what: string): Result {
  const r = decodeOrThrow(schemas().currentSchema, raw, what, decodeFailure)
  const out: Result = { cniVersion: version }
  if (r.interfaces) out.interfaces = r.interfaces.map((itf) => dropEmpty({ ...itf }))
  if (r.ips) {
    out.ips = r.ips.map((ip, i) => {
      const where = `${what}.ips.${i}`
      return dropEmpty({ address: cidrOf(ip.address, `${where}.address`), gateway: ipOf(ip.gateway, `${where}.gateway`), interface: ip.interface })
    })
  }
  if (r.routes) out.routes = r.routes.map((route, i) => checkedRoute(route, `${what}.routes.${i}`))
  if (r.dns) out.dns = dropEmpty({ ...r.dns })
  return out
}

// 0.1.0 / 0.2.0: {ip4: {ip, gateway, routes}, ip6: {...}, dns}; routes merge into the top level.
function decodeLegacy(raw: unknown, version: string, what: string): Result {
  const r = decodeOrThrow(schemas().legacySchema, raw, what, decodeFailure)
  const out: Result = { cniVersion: version, ips: [], routes: [] }
  for (const key of ['ip4', 'ip6'] as const) {
    const entry = r[key]
    if (!entry) continue
    out.ips!.push(dropEmpty({ address: cidrOf(entry.ip, `${what}.${key}.ip`), gateway: ipOf(entry.gateway, `${what}.${key}.gateway`) }))
    out.routes!.push(...(entry.routes ?? []).map((route, i) => checkedRoute(route, `${what}.${key}.routes.${i}`)))
  }
  if (r.dns) out.dns = dropEmpty({ ...r.dns })
  return out
}

// Addresses and routes from a delegated plugin end up in ip -batch lines: only real addresses get through.
function checkedRoute(route: ResultRoute, where: string): ResultRoute {
  if (!parseCidr(route.dst)) throw decodeFailure(`${where}.dst: "${route.dst}" is not a network with prefix`)
  return dropEmpty({ ...route, gw: ipOf(route.gw, `${where}.gw`) })
}

function cidrOf(value: string, where: string): string {
  if (!parseCidr(value)) throw decodeFailure(`${where}: "${value}" is not an address with prefix`)
  return value
}

function ipOf(value: string | undefined, where: string): string | undefined {
  if (value === undefined || value === '') return undefined
  if (!parseIp(value)) throw decodeFailure(`${where}: "${value}" is not an IP address`)
  return value
}

/** Writes a result in the shape of `version`. Fails (code 999) for 0.1/0.2 when there is no IP to express. */
export function encodeResult(result: Result, version: string): Json {
  if (compareVersions(version, '0.3.0') < 0) return encodeLegacy(result, version)
  const modern = compareVersions(version, '1.0.0') >= 0
  const out: Json = { cniVersion: version }
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((itf) => (modern ? { ...itf } : dropEmpty({ name: itf.name, mac: itf.mac, sandbox: itf.sandbox })))
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => (modern ? { ...ip } : { version: ipVersionOf(ip), ...ip }))
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => ({ ...r }))
  // 1.x omits an empty dns block; 0.3/0.4 always print it, as "dns":{} when empty (the reference's shapes).
  if (!modern) out.dns = { ...(result.dns ?? {}) }
  else if (!isEmptyDns(result.dns)) out.dns = { ...result.dns }
  return out
}

function ipVersionOf(ip: ResultIp): '4' | '6' {
  return parseCidr(ip.address)?.ip.family === 4 ? '4' : '6'
}

function encodeLegacy(result: Result, version: string): Json {
  const out: Json = { cniVersion: version }
  for (const family of [4, 6] as const) {
    const ip = result.ips?.find((candidate) => parseCidr(candidate.address)?.ip.family === family)
    if (!ip) continue
    const routes = (result.routes ?? [])
      .filter((r) => parseCidr(r.dst)?.ip.family === family)
      .map((r) => dropEmpty({ dst: r.dst, gw: r.gw }))
    out[`ip${family}`] = dropEmpty({ ip: ip.address, gateway: ip.gateway, routes: routes.length ? routes : undefined })
  }
  if (out.ip4 === undefined && out.ip6 === undefined) {
    throw new CniError(ErrorCode.Internal, 'cannot convert: no valid IP addresses', {
      details: `a result without IP addresses cannot be expressed in cniVersion ${version}; use 0.3.0 or newer`,
    })
  }
  out.dns = { ...(result.dns ?? {}) }
  return out
}

// Go leaves an empty string or a missing number as the zero value; the internal shape omits both.
function dropEmpty<T extends object>(o: T): T {
  for (const key of Object.keys(o) as Array<keyof T>) if (o[key] === undefined || o[key] === '') delete o[key]
  return o
}
