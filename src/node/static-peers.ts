// Static mode (`tscni node run --peers FILE`): the whole cluster declared in one file, for clusters without etcd.
// The file's nodes go through the same checks as leases read from etcd. Pure.
import { parseClusterConfig, type ClusterConfig } from './cluster-config.ts'
import { parseLeases, type Lease } from './leases.ts'
import { vtepMac } from './plan.ts'
import { parseSubnetPart, subnetKey } from './subnets.ts'
import { parseCidr } from '../plugin/addr.ts'

/**
 * A peers file: `{"Network":..,"SubnetLen":..,"Backend":{..},"Nodes":[{"Subnet":"10.77.1.0/24","PublicIP":"192.168.77.11"}]}`.
 * Dual-stack nodes add `"IPv6Subnet"` (and `"PublicIPv6"` for host-gw); in an IPv6-only file `Subnet` is the IPv6 one.
 */
export interface StaticCluster {
  readonly config: ClusterConfig
  readonly leases: readonly Lease[]
  readonly warnings: readonly string[]
}

const PSEUDO_PREFIX = 'nodes/'

/** Parses a peers file's text; throws on a bad config or shape, skips bad nodes with a warning. */
export function parseStaticCluster(text: string): StaticCluster {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new Error(`the peers file is not JSON: ${(err as Error).message}`)
  }
  const config = parseClusterConfig(value)
  const nodes = (value as { Nodes?: unknown }).Nodes
  if (!Array.isArray(nodes)) throw new Error('the peers file needs "Nodes": a list of {"Subnet", "PublicIP"}')
  const warnings: string[] = []
  const entries = nodes.flatMap((n: unknown, i: number) => {
    const node = typeof n === 'object' && n !== null ? (n as Record<string, unknown>) : {}
    const net = typeof node.Subnet === 'string' ? parseCidr(node.Subnet) : undefined
    const key = net ? subnetKey(net) : undefined
    if (!key || !parseSubnetPart(key)) {
      warnings.push(`ignoring Nodes[${i}]: Subnet ${JSON.stringify(node.Subnet)} is not a network such as "10.77.1.0/24"`)
      return []
    }
    const key6 = ipv6KeyPart(node.IPv6Subnet)
    if (key6 === null) {
      warnings.push(`ignoring Nodes[${i}]: IPv6Subnet ${JSON.stringify(node.IPv6Subnet)} is not a network such as "fd77:0:0:1::/64"`)
      return []
    }
    const ip = typeof node.PublicIP === 'string' ? node.PublicIP : ''
    let mac: string | undefined
    try {
      mac = vtepMac(ip)
    } catch {
      mac = undefined
    }
    const attrs = { PublicIP: node.PublicIP, ...(node.PublicIPv6 !== undefined ? { PublicIPv6: node.PublicIPv6 } : {}), BackendType: config.backend.type, BackendData: { VNI: config.backend.vni, VtepMAC: mac } }
    return [{ key: PSEUDO_PREFIX + key + (key6 ? `&${key6}` : ''), value: JSON.stringify(attrs) }]
  })
  const parsed = parseLeases(entries, config, PSEUDO_PREFIX)
  return { config, leases: parsed.leases, warnings: [...warnings, ...parsed.warnings] }
}

/** The key part of a node's IPv6Subnet: undefined when there is none, null when it is not a network. */
function ipv6KeyPart(text: unknown): string | undefined | null {
  if (text === undefined) return undefined
  const net = typeof text === 'string' ? parseCidr(text) : undefined
  const key = net && net.ip.family === 6 ? subnetKey(net) : undefined
  return key && parseSubnetPart(key) ? key : null
}
