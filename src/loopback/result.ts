// Pure loopback logic: which addresses of `lo` the result reports, the result itself and how the reference prints
// it in every version, and what CHECK finds wrong with `lo`.
import { parseIp } from '../plugin/addr.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import { isEmptyDns, type Result } from '../plugin/result.ts'
import type { IpLink } from '../system/index.ts'

/** The loopback device: the role ignores CNI_IFNAME, as the reference does (it only works for loopback). */
export const LOOPBACK = 'lo'
/** The MAC a loopback device reports. */
export const LOOPBACK_MAC = '00:00:00:00:00:00'

/** The first address of each family on `lo`, as "address/prefix". */
export interface LoopbackAddresses {
  readonly v4?: string
  readonly v6?: string
}

/** True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.y.z, which Go's IP.IsLoopback also counts). */
export function isLoopbackIp(text: string): boolean {
  const ip = parseIp(text)
  if (!ip) return false
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n
}

/**
 * The first IPv4 and the first IPv6 address of `lo` in the kernel's order (what the reference reports). A
 * non-loopback address on `lo` fails ADD, as in the reference: such a device is not a plain loopback.
 */
export function loopbackAddresses(link: IpLink): LoopbackAddresses {
  const out: { v4?: string; v6?: string } = {}
  for (const addr of link.addrs) {
    if (!isLoopbackIp(addr.local)) {
      throw new CniError(ErrorCode.Internal, `loopback interface found with non-loopback address "${addr.local}"`, {
        details: `${link.ifname} carries ${addr.local}/${addr.prefixlen}`,
      })
    }
    const key = addr.family === 'inet' ? 'v4' : 'v6'
    out[key] ??= `${addr.local}/${addr.prefixlen}`
  }
  return out
}

/** The ADD result without prevResult: `lo` in the sandbox, and its addresses pointing at it. */
export function loopbackResult(cniVersion: string, netns: string, addrs: LoopbackAddresses): Result {
  const ips = [addrs.v4, addrs.v6].flatMap((address) => (address ? [{ interface: 0, address }] : []))
  return { cniVersion, interfaces: [{ name: LOOPBACK, mac: LOOPBACK_MAC, sandbox: netns }], ...(ips.length ? { ips } : {}) }
}

/**
 * The result as the reference prints it: it builds a spec-1.x result stamped with the config's version, and the
 * Go library's conversion returns a result unchanged when its version already equals the requested one
 * (containernetworking/cni pkg/types/internal/convert.go). So every version, 0.1.0 and 0.3.1 included, gets the
 * 1.x shape: no `ip4`/`ip6`, no `ips[].version`, and no `dns` when it is empty (types100 Result.MarshalJSON).
 */
export function encodeLoopbackResult(result: Result, cniVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion }
  if (result.interfaces?.length) out.interfaces = result.interfaces.map((itf) => ({ ...itf }))
  if (result.ips?.length) out.ips = result.ips.map((ip) => ({ ...ip }))
  if (result.routes?.length) out.routes = result.routes.map((route) => ({ ...route }))
  if (!isEmptyDns(result.dns)) out.dns = { ...result.dns }
  return out
}

/**
 * What CHECK finds wrong with `lo`: missing, down, without 127.0.0.1, or without ::1 while IPv6 is enabled on it.
 * The reference only checks that it is up; a loopback without its addresses is as broken as a down one.
 */
export function loopbackProblems(links: readonly IpLink[], ipv6Enabled: boolean): string[] {
  const lo = links.find((l) => l.ifname === LOOPBACK)
  if (!lo) return [`loopback interface ${LOOPBACK} not found`]
  const problems: string[] = []
  if (!lo.flags.includes('UP')) problems.push('loopback interface is down')
  const has = (family: 'inet' | 'inet6', local: string) => {
    const want = parseIp(local)!
    return lo.addrs.some((a) => {
      const ip = parseIp(a.local)
      return a.family === family && ip?.family === want.family && ip.value === want.value
    })
  }
  if (!has('inet', '127.0.0.1')) problems.push(`loopback interface has no address 127.0.0.1 (it has ${describe(lo)})`)
  if (ipv6Enabled && !has('inet6', '::1')) problems.push(`loopback interface has no address ::1 although IPv6 is enabled on it (it has ${describe(lo)})`)
  return problems
}

function describe(lo: IpLink): string {
  return lo.addrs.map((a) => `${a.local}/${a.prefixlen}`).join(', ') || 'no addresses'
}
