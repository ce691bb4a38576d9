// Which host address a port mapping matches in one address family: the same answer for both portmap backends.
import { parseIp, type IpFamily } from '../plugin/addr.ts'
import type { PortMapping } from './model.ts'

/**
 * The host address a mapping matches in this family: '' for any, null when the mapping belongs to the other
 * family. An unspecified address (0.0.0.0 or ::) means any host address of its own family, as in the reference.
 */
export function hostMatch(m: PortMapping, family: IpFamily): string | '' | null {
  if (m.hostIp === undefined || m.hostIp === '') return ''
  const ip = parseIp(m.hostIp)
  if (!ip) return m.hostIp
  if (ip.family !== family) return null
  return ip.value === 0n ? '' : m.hostIp
}

/**
 * True when the mapping's host address is a loopback one (127.0.0.0/8, ::1). Such a mapping must only ever match
 * locally-originated traffic: DNAT in PREROUTING rewrites the destination before the kernel's martian check, so a LAN
 * neighbour routing 127.0.0.1 via the node (or a pod) would reach it (moby#48721 is the same hole in Docker).
 */
export function loopbackHost(m: PortMapping): boolean {
  const ip = m.hostIp === undefined ? undefined : parseIp(m.hostIp)
  if (!ip) return false
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n
}
