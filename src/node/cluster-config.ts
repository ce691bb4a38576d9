// The cluster settings every node shares (flannel's `<prefix>/config` shape): the pod network, the size of each
// node's subnet and the backend. Read from the store or a peers file, so everything is checked before use.
import { formatCidr, networkOf, parseCidr, type IpNet } from '../plugin/addr.ts'

/** How packets reach another node's pods. */
export type BackendType = 'host-gw' | 'vxlan'

/** The checked cluster settings. IPv4 only (see README "Limits"). */
export interface ClusterConfig {
  /** The cluster CIDR, host bits cleared. */
  readonly network: IpNet
  /** Prefix length of each node's subnet. */
  readonly subnetLen: number
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
  return { network: networkOf(net), subnetLen: subnetLen as number, backend: { type, vni, port } }
}

/** The config in its stored shape (what `tscni node run --init-config` writes and status prints). */
export function clusterConfigJson(c: ClusterConfig): Record<string, unknown> {
  return { Network: formatCidr(c.network), SubnetLen: c.subnetLen, Backend: { Type: c.backend.type, VNI: c.backend.vni, Port: c.backend.port } }
}
