// Spec versions: the supported list, comparison, and conversion of results between every version's shape.
import { CniError, ErrorCode } from './errors.ts'
import { parseCidr, parseIp } from './addr.ts'
import { isEmptyDns, type Result, type ResultDns, type ResultIp, type ResultRoute } from './result.ts'

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

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function decodeFailure(msg: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, msg)
}

/**
 * Reads a result of any supported version into the internal shape. `version` is the config's cniVersion,
 * used when the result carries none (libcni parses prevResult in the config's version).
 */
export function decodeResult(raw: unknown, version: string, what = 'result'): Result {
  if (!isObject(raw)) throw decodeFailure(`${what} is not a JSON object`)
  const resultVersion = typeof raw.cniVersion === 'string' && raw.cniVersion !== '' ? raw.cniVersion : version
  if (!isSupportedVersion(resultVersion)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `${what} has unsupported cniVersion "${resultVersion}"`)
  }
  return compareVersions(resultVersion, '0.3.0') < 0 ? decodeLegacy(raw, resultVersion, what) : decodeCurrent(raw, resultVersion, what)
}

function decodeCurrent(raw: Json, version: string, what: string): Result {
  const out: Result = { cniVersion: version }
  if (raw.interfaces !== undefined) {
    out.interfaces = arrayOf(raw.interfaces, `${what}.interfaces`).map((item, i) => {
      const o = objectAt(item, `${what}.interfaces[${i}]`)
      const name = stringField(o, 'name', `${what}.interfaces[${i}]`, true)!
      return dropUndefined({
        name,
        mac: stringField(o, 'mac', `${what}.interfaces[${i}]`),
        mtu: numberField(o, 'mtu', `${what}.interfaces[${i}]`),
        sandbox: stringField(o, 'sandbox', `${what}.interfaces[${i}]`),
        socketPath: stringField(o, 'socketPath', `${what}.interfaces[${i}]`),
        pciID: stringField(o, 'pciID', `${what}.interfaces[${i}]`),
      })
    })
  }
  if (raw.ips !== undefined) {
    out.ips = arrayOf(raw.ips, `${what}.ips`).map((item, i) => {
      const o = objectAt(item, `${what}.ips[${i}]`)
      const where = `${what}.ips[${i}]`
      const address = stringField(o, 'address', where, true)!
      if (!parseCidr(address)) throw decodeFailure(`${where}.address: "${address}" is not an address with prefix`)
      return dropUndefined({ address, gateway: ipField(o, 'gateway', where), interface: numberField(o, 'interface', where) })
    })
  }
  if (raw.routes !== undefined) out.routes = decodeRoutes(raw.routes, `${what}.routes`)
  if (raw.dns !== undefined) out.dns = decodeDns(raw.dns, `${what}.dns`)
  return out
}

// 0.1.0 / 0.2.0: {ip4: {ip, gateway, routes}, ip6: {...}, dns}; routes merge into the top level.
function decodeLegacy(raw: Json, version: string, what: string): Result {
  const out: Result = { cniVersion: version, ips: [], routes: [] }
  for (const key of ['ip4', 'ip6'] as const) {
    if (raw[key] === undefined || raw[key] === null) continue
    const o = objectAt(raw[key], `${what}.${key}`)
    const address = stringField(o, 'ip', `${what}.${key}`, true)!
    if (!parseCidr(address)) throw decodeFailure(`${what}.${key}.ip: "${address}" is not an address with prefix`)
    out.ips!.push(dropUndefined({ address, gateway: ipField(o, 'gateway', `${what}.${key}`) }))
    if (o.routes !== undefined) out.routes!.push(...decodeRoutes(o.routes, `${what}.${key}.routes`))
  }
  if (raw.dns !== undefined) out.dns = decodeDns(raw.dns, `${what}.dns`)
  return out
}

function decodeRoutes(raw: unknown, where: string): ResultRoute[] {
  return arrayOf(raw, where).map((item, i) => {
    const o = objectAt(item, `${where}[${i}]`)
    const at = `${where}[${i}]`
    const dst = stringField(o, 'dst', at, true)!
    // Routes from a delegated plugin end up in ip -batch lines: only real addresses get through.
    if (!parseCidr(dst)) throw decodeFailure(`${at}.dst: "${dst}" is not a network with prefix`)
    return dropUndefined({
      dst,
      gw: ipField(o, 'gw', at),
      mtu: numberField(o, 'mtu', at),
      advmss: numberField(o, 'advmss', at),
      priority: numberField(o, 'priority', at),
      table: numberField(o, 'table', at),
      scope: numberField(o, 'scope', at),
    })
  })
}

function decodeDns(raw: unknown, where: string): ResultDns {
  const o = objectAt(raw, where)
  const list = (key: string): string[] | undefined => {
    if (o[key] === undefined || o[key] === null) return undefined
    const arr = arrayOf(o[key], `${where}.${key}`)
    if (!arr.every((v) => typeof v === 'string')) throw decodeFailure(`${where}.${key} must be a list of strings`)
    return arr as string[]
  }
  return dropUndefined({ nameservers: list('nameservers'), domain: stringField(o, 'domain', where), search: list('search'), options: list('options') })
}

/** Writes a result in the shape of `version`. Fails (code 999) for 0.1/0.2 when there is no IP to express. */
export function encodeResult(result: Result, version: string): Json {
  if (compareVersions(version, '0.3.0') < 0) return encodeLegacy(result, version)
  const modern = compareVersions(version, '1.0.0') >= 0
  const out: Json = { cniVersion: version }
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((itf) => (modern ? { ...itf } : dropUndefined({ name: itf.name, mac: itf.mac, sandbox: itf.sandbox })))
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
      .map((r) => dropUndefined({ dst: r.dst, gw: r.gw }))
    out[`ip${family}`] = dropUndefined({ ip: ip.address, gateway: ip.gateway, routes: routes.length ? routes : undefined })
  }
  if (out.ip4 === undefined && out.ip6 === undefined) {
    throw new CniError(ErrorCode.Internal, 'cannot convert: no valid IP addresses', {
      details: `a result without IP addresses cannot be expressed in cniVersion ${version}; use 0.3.0 or newer`,
    })
  }
  out.dns = { ...(result.dns ?? {}) }
  return out
}

function arrayOf(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw decodeFailure(`${where} must be a list`)
  return v
}

function objectAt(v: unknown, where: string): Json {
  if (!isObject(v)) throw decodeFailure(`${where} must be an object`)
  return v
}

function stringField(o: Json, key: string, where: string, required = false): string | undefined {
  const v = o[key]
  if (v === undefined || v === null || (v === '' && !required)) {
    if (required) throw decodeFailure(`${where}.${key} is missing`)
    return undefined
  }
  if (typeof v !== 'string') throw decodeFailure(`${where}.${key} must be a string, got ${JSON.stringify(v)}`)
  return v
}

function ipField(o: Json, key: string, where: string): string | undefined {
  const v = stringField(o, key, where)
  if (v !== undefined && !parseIp(v)) throw decodeFailure(`${where}.${key}: "${v}" is not an IP address`)
  return v
}

function numberField(o: Json, key: string, where: string): number | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v)) throw decodeFailure(`${where}.${key} must be an integer, got ${JSON.stringify(v)}`)
  return v
}

function dropUndefined<T extends object>(o: T): T {
  for (const key of Object.keys(o) as Array<keyof T>) if (o[key] === undefined) delete o[key]
  return o
}
