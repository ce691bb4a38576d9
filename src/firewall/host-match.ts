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
