// host-local ranges and range sets: defaults, validation, membership and overlap (the reference's backend/allocator/range.go), pure.
import {
  compareIp,
  formatCidr,
  formatIp,
  ipAdd,
  ipEquals,
  lastAddress,
  netContains,
  networkAddress,
  parseCidr,
  parseIp,
  familyBits,
  type Ip,
  type IpNet,
} from '../plugin/addr.ts'
import { invalidConfig, wrapError } from '../plugin/errors.ts'

/** A range as written in the config (every field a string, all but `subnet` optional). */
export interface RangeInput {
  readonly subnet: string
  readonly rangeStart?: string | undefined
  readonly rangeEnd?: string | undefined
  readonly gateway?: string | undefined
}

/** A canonical range: `subnet` has no host bits; start, end and gateway are filled in and inside the subnet. */
export interface Range {
  readonly subnet: IpNet
  readonly rangeStart: Ip
  readonly rangeEnd: Ip
  readonly gateway: Ip
}

/** A pool of disjoint ranges of one family; an ADD takes exactly one address from it. */
export type RangeSet = readonly Range[]

/**
 * Validates a range and fills in the reference defaults: gateway network+1, rangeStart network+1 (the gateway is
 * skipped while iterating), rangeEnd the last address, minus the broadcast for IPv4. Code 7 with the
 * reference's message on any problem.
 */
export function canonicalizeRange(input: RangeInput): Range {
  const parsed = parseCidr(input.subnet)
  if (!parsed) throw invalidConfig(`invalid CIDR address: ${input.subnet}`)
  const network = networkAddress(parsed)
  const subnet: IpNet = { ip: network, prefix: parsed.prefix }
  if (!ipEquals(network, parsed.ip)) {
    throw invalidConfig(`Network has host bits set. For a subnet mask of length ${parsed.prefix} the network address is ${formatIp(network)}`)
  }
  // /31, /32, /127, /128 leave no address besides network and gateway.
  if (parsed.prefix > familyBits(network.family) - 2) throw invalidConfig(`Network ${formatCidr(subnet)} too small to allocate from`)
  const first = ipAdd(network, 1n)!
  const gateway = input.gateway ? parseMember(input.gateway, subnet, 'gateway') : first
  const rangeStart = input.rangeStart ? parseMember(input.rangeStart, subnet, 'RangeStart') : first
  const last = lastAddress(subnet)
  const rangeEnd = input.rangeEnd ? parseMember(input.rangeEnd, subnet, 'RangeEnd') : network.family === 4 ? ipAdd(last, -1n)! : last
  if (compareIp(rangeStart, rangeEnd) > 0) {
    throw invalidConfig(`RangeEnd ${formatIp(rangeEnd)} is in network ${formatCidr(subnet)} but before start ${formatIp(rangeStart)}`)
  }
  return { subnet, rangeStart, rangeEnd, gateway }
}

function parseMember(text: string, subnet: IpNet, field: string): Ip {
  const ip = parseIp(text)
  if (!ip) throw invalidConfig(`${field} ${JSON.stringify(text)} is not an IP address`)
  if (ip.family !== subnet.ip.family) throw invalidConfig(`${field} ${text} is not the same protocol as subnet ${formatCidr(subnet)}`)
  if (!netContains(subnet, ip)) throw invalidConfig(`${field} ${formatIp(ip)} not in network ${formatCidr(subnet)}`)
  return ip
}

/** True when `ip` is inside the subnet and between rangeStart and rangeEnd (inclusive). */
export function rangeContains(range: Range, ip: Ip): boolean {
  return netContains(range.subnet, ip) && compareIp(ip, range.rangeStart) >= 0 && compareIp(ip, range.rangeEnd) <= 0
}

/** Overlap as the reference defines it: either range contains the other's start or end; families never overlap. */
export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd)
}

/** "start-end", the reference's text for a range in error messages. */
export function rangeToString(range: Range): string {
  return `${formatIp(range.rangeStart)}-${formatIp(range.rangeEnd)}`
}

/** Canonicalises every range of a set; rejects an empty set, mixed families and overlaps inside the set. */
export function canonicalizeRangeSet(inputs: readonly RangeInput[]): RangeSet {
  if (inputs.length === 0) throw invalidConfig('empty range set')
  const set = inputs.map((input) => canonicalizeRange(input))
  const family = set[0]!.subnet.ip.family
  if (set.some((r) => r.subnet.ip.family !== family)) throw invalidConfig('mixed address families')
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (rangesOverlap(set[i]!, set[j]!)) throw invalidConfig(`subnets ${rangeToString(set[i]!)} and ${rangeToString(set[j]!)} overlap`)
    }
  }
  return set
}

/** The family of a (non-empty, canonical) range set. */
export function rangeSetFamily(set: RangeSet): 4 | 6 {
  return set[0]!.subnet.ip.family
}

/** The range of the set holding `ip`, if any. */
export function rangeFor(set: RangeSet, ip: Ip): Range | undefined {
  return set.find((r) => rangeContains(r, ip))
}

/** True when any range of the set contains `ip`. */
export function rangeSetContains(set: RangeSet, ip: Ip): boolean {
  return rangeFor(set, ip) !== undefined
}

/** True when any range of one set overlaps any range of the other. */
export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangesOverlap(x, y)))
}

/** "start-end,start-end", the reference's text for a range set. */
export function rangeSetToString(set: RangeSet): string {
  return set.map(rangeToString).join(',')
}

/** How many addresses of the range can be handed out: start..end without the gateway. */
export function rangeCapacity(range: Range): bigint {
  const size = range.rangeEnd.value - range.rangeStart.value + 1n
  return rangeContains(range, range.gateway) ? size - 1n : size
}

/** Validates a whole list of range sets: `invalid range set <i>: ...`, then `range set <i> overlaps with <j>`. */
export function canonicalizeRangeSets(inputs: ReadonlyArray<readonly RangeInput[]>): RangeSet[] {
  const sets = inputs.map((set, i) => {
    try {
      return canonicalizeRangeSet(set)
    } catch (err) {
      throw wrapError(`invalid range set ${i}`, err)
    }
  })
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      if (rangeSetsOverlap(sets[i]!, sets[j]!)) throw invalidConfig(`range set ${i} overlaps with ${j}`)
    }
  }
  return sets
}
