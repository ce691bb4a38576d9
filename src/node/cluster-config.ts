// The cluster settings every node shares (flannel's `<prefix>/config` shape): the pod network, the size of each
// node's subnet and the backend. Read from the store or a peers file, so everything is checked before use.
import { formatCidr, networkOf, parseCidr, type IpNet } from '../plugin/addr.ts'

/** How packets reach another node's pods. */
export type BackendType = 'host-gw' | 'vxlan'

/**
 * The checked cluster settings. `network` and `subnetLen` are the primary pool: the IPv4 one, or the IPv6 one in an
 * IPv6-only cluster (`EnableIPv4: false`); a dual-stack cluster has its IPv6 pool in `ipv6`.
 */
export interface ClusterConfig {
  /** The cluster CIDR, host bits cleared. */
  readonly network: IpNet
  /** Prefix length of each node's subnet. */
  readonly subnetLen: number
  /** Dual-stack only: the IPv6 pool beside the IPv4 one. */
  readonly ipv6?: SubnetPool
  readonly backend: { readonly type: BackendType; readonly vni: number; readonly port: number }
}

/** The IANA-assigned VXLAN port is 4789; 8472 is the Linux kernel's default and flannel's (vxlan(4), "dstport"). */
export const DEFAULT_VXLAN_PORT = 8472
export const DEFAULT_VNI = 1

/** A config that cannot be used, with every reason. */
export class ClusterConfigError extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid cluster config: ${problems.join('; ')}`)
    this.problems = problems
    this.name = 'ClusterConfigError'
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Parses `{"Network":"10.77.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}`. SubnetLen
 * defaults to 24 and must be longer than the Network's prefix; Backend.Type defaults to vxlan, which also works
 * across routed segments.
 */
export function parseClusterConfig(value: unknown): ClusterConfig {
  const problems: string[] = []
  if (!isObject(value)) throw new ClusterConfigError(['the config is not a JSON object'])
  if (value.EnableIPv4 === false) return parseIpv6OnlyConfig(value)
  const ipv6 = parseIpv6Pool(value, problems)
  const net = typeof value.Network === 'string' ? parseCidr(value.Network) : undefined
  if (!net || net.ip.family !== 4) problems.push(`Network must be an IPv4 CIDR such as "10.77.0.0/16" (got ${JSON.stringify(value.Network)})`)
  const subnetLen = value.SubnetLen === undefined ? 24 : value.SubnetLen
  if (typeof subnetLen !== 'number' || !Number.isInteger(subnetLen) || subnetLen < 8 || subnetLen > 30) {
    problems.push(`SubnetLen must be an integer from 8 to 30 (got ${JSON.stringify(value.SubnetLen)})`)
  } else if (net && net.ip.family === 4 && subnetLen <= net.prefix) {
    problems.push(`SubnetLen ${subnetLen} must be longer than the Network's /${net.prefix}, so the network holds several node subnets`)
  }
  const backend = value.Backend === undefined ? {} : value.Backend
  let type: BackendType = 'vxlan'
  let vni = DEFAULT_VNI
  let port = DEFAULT_VXLAN_PORT
  if (!isObject(backend)) {
    problems.push('Backend must be an object')
  } else {
    if (backend.Type !== undefined) {
      if (backend.Type === 'host-gw' || backend.Type === 'vxlan') type = backend.Type
      else problems.push(`Backend.Type must be "host-gw" or "vxlan" (got ${JSON.stringify(backend.Type)})`)
    }
    if (backend.VNI !== undefined) {
      // 24-bit VXLAN network identifier (RFC 7348 section 5).
      if (typeof backend.VNI === 'number' && Number.isInteger(backend.VNI) && backend.VNI >= 1 && backend.VNI <= 0xffffff) vni = backend.VNI
      else problems.push(`Backend.VNI must be an integer from 1 to 16777215 (got ${JSON.stringify(backend.VNI)})`)
    }
    if (backend.Port !== undefined) {
      if (typeof backend.Port === 'number' && Number.isInteger(backend.Port) && backend.Port >= 1 && backend.Port <= 65535) port = backend.Port
      else problems.push(`Backend.Port must be an integer from 1 to 65535 (got ${JSON.stringify(backend.Port)})`)
    }
  }
  if (problems.length > 0 || !net) throw new ClusterConfigError(problems)
  return { network: networkOf(net), subnetLen: subnetLen as number, ...(ipv6 ? { ipv6 } : {}), backend: { type, vni, port } }
}

/** The config in its stored shape (what `tscni node run --init-config` writes and status prints). */
export function clusterConfigJson(c: ClusterConfig): Record<string, unknown> {
  const backend = { Type: c.backend.type, VNI: c.backend.vni, Port: c.backend.port }
  if (c.network.ip.family === 6) return { EnableIPv4: false, EnableIPv6: true, IPv6Network: formatCidr(c.network), IPv6SubnetLen: c.subnetLen, Backend: backend }
  const ipv6 = c.ipv6 ? { EnableIPv6: true, IPv6Network: formatCidr(c.ipv6.network), IPv6SubnetLen: c.ipv6.subnetLen } : {}
  return { Network: formatCidr(c.network), SubnetLen: c.subnetLen, ...ipv6, Backend: backend }
}

/** A network cut into node subnets of one size. */
export interface SubnetPool {
  readonly network: IpNet
  readonly subnetLen: number
}

/** IPv6SubnetLen's default, flannel's: a /64 per node (flannel's Documentation/configuration.md). */
export const DEFAULT_IPV6_SUBNET_LEN = 64

/**
 * The IPv6 pool when `EnableIPv6` is true (flannel's `IPv6Network`, `IPv6SubnetLen`); undefined when it is off.
 * IPv6SubnetLen stops at 120 so each node's subnet holds its gateway and pods; at most 32 bits of node index, so
 * a subnet's index always fits a safe integer.
 */
export function parseIpv6Pool(value: Record<string, unknown>, problems: string[]): SubnetPool | undefined {
  if (value.EnableIPv6 !== undefined && typeof value.EnableIPv6 !== 'boolean') problems.push(`EnableIPv6 must be true or false (got ${JSON.stringify(value.EnableIPv6)})`)
  if (value.EnableIPv4 !== undefined && typeof value.EnableIPv4 !== 'boolean') problems.push(`EnableIPv4 must be true or false (got ${JSON.stringify(value.EnableIPv4)})`)
  if (value.EnableIPv6 !== true) return undefined
  const net = typeof value.IPv6Network === 'string' ? parseCidr(value.IPv6Network) : undefined
  if (!net || net.ip.family !== 6) {
    problems.push(`IPv6Network must be an IPv6 CIDR such as "fd77::/56" (got ${JSON.stringify(value.IPv6Network)})`)
    return undefined
  }
  const len = value.IPv6SubnetLen === undefined ? DEFAULT_IPV6_SUBNET_LEN : value.IPv6SubnetLen
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 8 || len > 120) {
    problems.push(`IPv6SubnetLen must be an integer from 8 to 120 (got ${JSON.stringify(value.IPv6SubnetLen)})`)
    return undefined
  }
  if (len <= net.prefix || len - net.prefix > 32) {
    problems.push(`IPv6SubnetLen ${len} must be longer than the IPv6Network's /${net.prefix} by 1 to 32 bits, so the network holds several node subnets`)
    return undefined
  }
  return { network: networkOf(net), subnetLen: len }
}

/**
 * An IPv6-only cluster (`EnableIPv4: false`, `EnableIPv6: true`): the IPv6 pool is the primary one and `Network`
 * is ignored, as flannel does. The backend is read as in a dual-stack config.
 */
function parseIpv6OnlyConfig(value: Record<string, unknown>): ClusterConfig {
  const problems: string[] = []
  const pool = parseIpv6Pool(value, problems)
  if (value.EnableIPv6 !== true) problems.push('EnableIPv4 is false, so EnableIPv6 must be true (a cluster needs at least one family)')
  let backend: ClusterConfig['backend'] | undefined
  try {
    backend = parseClusterConfig({ Backend: value.Backend, Network: '10.0.0.0/8' }).backend
  } catch (err) {
    problems.push(...(err as ClusterConfigError).problems)
  }
  if (problems.length > 0 || !pool || !backend) throw new ClusterConfigError(problems)
  return { network: pool.network, subnetLen: pool.subnetLen, backend }
}
