// IP address and CIDR values: parse, format, arithmetic. The only importer of ip-cidr.
import IPCIDR from 'ip-cidr'

/** Address family: 4 or 6. */
export type IpFamily = 4 | 6

/** An IP address as a number, so arithmetic and comparison are exact for both families. */
export interface Ip {
  readonly family: IpFamily
  readonly value: bigint
}

/** An address with a prefix length. `ip` may have host bits set (an interface address such as 10.1.2.5/24). */
export interface IpNet {
  readonly ip: Ip
  readonly prefix: number
}

/** Number of bits in an address of this family. */
export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128
}

const V4_MAPPED_PREFIX = 0xffffn

/**
 * Parses a plain address ("10.1.2.3", "2001:db8::1"); undefined when it is not one (a prefix is not allowed).
 * The family comes from the text, not from ip-cidr's `v4` flag, which is also set for IPv6 text with an embedded
 * dotted quad ("2001:db8::1.2.3.4"). An IPv4-mapped address ("::ffff:10.0.0.1") is IPv4, as Go's To4() reads it,
 * so host-local names its file (and compares it) exactly as the reference does.
 */
export function parseIp(text: string): Ip | undefined {
  if (typeof text !== 'string' || text.includes('/') || text.includes('%')) return undefined
  if (!text.includes(':')) return IPCIDR.isValidAddress(text) ? { family: 4, value: bigValue(text) } : undefined
  // ip-cidr's createAddress keeps only the dotted part of "2001:db8::1.2.3.4": hand it pure hex instead.
  const hex = embeddedV4AsHex(text)
  if (hex === undefined || !IPCIDR.isValidAddress(hex)) return undefined
  const value = bigValue(hex)
  if (value >> 32n === V4_MAPPED_PREFIX) return { family: 4, value: value & 0xffffffffn }
  return { family: 6, value }
}

function bigValue(text: string): bigint {
  return BigInt(IPCIDR.createAddress(text).bigInteger() as unknown as bigint)
}

// "::ffff:1.2.3.4" -> "::ffff:102:304"; undefined when the dotted tail is not an IPv4 address.
function embeddedV4AsHex(text: string): string | undefined {
  const at = text.lastIndexOf(':')
  const tail = text.slice(at + 1)
  if (!tail.includes('.')) return text
  const v4 = parseIp(tail)
  if (!v4) return undefined
  const high = Number(v4.value >> 16n).toString(16)
  const low = Number(v4.value & 0xffffn).toString(16)
  return `${text.slice(0, at + 1)}${high}:${low}`
}

/** Parses "address/prefix"; undefined when it is not one. Host bits are kept. */
export function parseCidr(text: string): IpNet | undefined {
  if (typeof text !== 'string') return undefined
  const slash = text.indexOf('/')
  if (slash <= 0) return undefined
  const ip = parseIp(text.slice(0, slash))
  const prefixText = text.slice(slash + 1)
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined
  const prefix = Number(prefixText)
  if (prefix > familyBits(ip.family)) return undefined
  return { ip, prefix }
}

/** Parses an address with or without a prefix; a bare address gets the full-length prefix. */
export function parseIpOrCidr(text: string): IpNet | undefined {
  if (typeof text === 'string' && text.includes('/')) return parseCidr(text)
  const ip = parseIp(text)
  return ip && { ip, prefix: familyBits(ip.family) }
}

/** Canonical text: dotted quad for IPv4, compressed lowercase for IPv6 (the host-local file names). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = Number(ip.value)
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`
  }
  const hextets: string[] = []
  for (let shift = 112n; shift >= 0n; shift -= 16n) hextets.push(((ip.value >> shift) & 0xffffn).toString(16))
  return compressIpv6(hextets)
}

// RFC 5952: the longest run (of at least two) of zero groups becomes "::", the first such run on a tie.
function compressIpv6(hextets: string[]): string {
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && hextets[j] === '0') j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  if (bestStart === -1) return hextets.join(':')
  return `${hextets.slice(0, bestStart).join(':')}::${hextets.slice(bestStart + bestLen).join(':')}`
}

/** "ip/prefix" text, keeping host bits. */
export function formatCidr(net: IpNet): string {
  return `${formatIp(net.ip)}/${net.prefix}`
}

function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(familyBits(family) - prefix)) - 1n
}

/** First address of the network (host bits cleared). */
export function networkAddress(net: IpNet): Ip {
  return { family: net.ip.family, value: net.ip.value & ~hostMask(net.ip.family, net.prefix) }
}

/** Last address of the network (host bits set): the IPv4 broadcast address. */
export function lastAddress(net: IpNet): Ip {
  return { family: net.ip.family, value: net.ip.value | hostMask(net.ip.family, net.prefix) }
}

/** The network itself as a value with host bits cleared. */
export function networkOf(net: IpNet): IpNet {
  return { ip: networkAddress(net), prefix: net.prefix }
}

/** True when the address lies inside the network (same family). */
export function netContains(net: IpNet, ip: Ip): boolean {
  if (net.ip.family !== ip.family) return false
  const mask = ~hostMask(ip.family, net.prefix)
  return (ip.value & mask) === (net.ip.value & mask)
}

/** True when two networks share any address. */
export function netsOverlap(a: IpNet, b: IpNet): boolean {
  return netContains(a, b.ip) || netContains(b, a.ip)
}

/** ip + delta, or undefined when that leaves the family's address space. */
export function ipAdd(ip: Ip, delta: bigint): Ip | undefined {
  const value = ip.value + delta
  if (value < 0n || value > hostMask(ip.family, 0)) return undefined
  return { family: ip.family, value }
}

/** Orders addresses: IPv4 before IPv6, then numerically. */
export function compareIp(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0
}

/** Same family and value. */
export function ipEquals(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.value === b.value
}

/** Canonical text of an address given as text; the input unchanged when it does not parse. */
export function canonicalIpText(text: string): string {
  const ip = parseIp(text)
  return ip ? formatIp(ip) : text
}
