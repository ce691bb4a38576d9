// The checks that keep a cluster config read from etcd (which any node with write access can overwrite) from
// taking over the host: bounds every config must keep, conflicts with this host's addresses, routes and etcd
// endpoints, and the pin (the config this node joined with, kept in its state dir; a different one stops the
// agent unless the operator accepts it). Pure except the pin file's read and write.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { formatCidr, netsOverlap, parseCidr, parseIp } from '../plugin/addr.ts'
import { clusterConfigJson, ClusterConfigError, type ClusterConfig } from './cluster-config.ts'
import { writeAtomic } from './local-files.ts'

/**
 * Ranges no pod network may touch (RFC 6890): "this network", loopback, link-local (cloud metadata lives at
 * 169.254.169.254), multicast and reserved.
 */
const RESERVED = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4'].map((c) => parseCidr(c)!)
/** A shorter prefix would cover a good part of the Internet: `-s <network> -j ACCEPT` in FORWARD then opens the node. */
export const MIN_NETWORK_PREFIX = 8

/** What is wrong with a config whatever the host: too wide, or touching a reserved range. */
export function configBoundsProblems(config: ClusterConfig): string[] {
  const net = config.network
  const problems: string[] = []
  if (net.ip.family === 4 && net.prefix < MIN_NETWORK_PREFIX) problems.push(`Network ${formatCidr(net)} is wider than /${MIN_NETWORK_PREFIX}`)
  for (const r of RESERVED) if (netsOverlap(net, r)) problems.push(`Network ${formatCidr(net)} overlaps the reserved range ${formatCidr(r)}`)
  return problems
}

/** What this host has that a pod network must not overlap. */
export interface HostFacts {
  /** The host's own addresses, with their prefixes ("192.168.1.5/24"), but not those of the agent's devices. */
  readonly addresses: readonly string[]
  /**
   * Destinations of routes that are not the agent's (not proto 77, not on its bridge or VXLAN device), main
   * table ("192.168.1.0/24", "default").
   */
  readonly foreignRoutes: readonly string[]
  /** The etcd endpoints' hosts (IP literals are checked; names cannot be without a lookup). */
  readonly etcdHosts: readonly string[]
}

/**
 * What in the config collides with the host: an own address or a route that is not ours inside the Network (the
 * node's LAN would be routed to a peer), or an etcd endpoint there (the agent would cut itself off). A default
 * route is no collision: every pod network lies inside it.
 */
export function configHostProblems(config: ClusterConfig, host: HostFacts): string[] {
  const net = config.network
  const problems: string[] = []
  for (const a of host.addresses) {
    const ip = parseIp(a.split('/')[0]!)
    if (ip && ip.family === net.ip.family && netsOverlap(net, { ip, prefix: ip.family === 4 ? 32 : 128 })) problems.push(`Network ${formatCidr(net)} contains this host's address ${a}`)
  }
  for (const dst of host.foreignRoutes) {
    if (dst === 'default') continue
    const r = parseCidr(dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`)
    if (r && r.ip.family === net.ip.family && r.prefix > 0 && netsOverlap(net, r)) problems.push(`Network ${formatCidr(net)} overlaps this host's route to ${dst}, which is not the agent's`)
  }
  for (const h of host.etcdHosts) {
    const ip = parseIp(h.replace(/^\[|\]$/g, ''))
    if (ip && ip.family === net.ip.family && netsOverlap(net, { ip, prefix: ip.family === 4 ? 32 : 128 })) problems.push(`Network ${formatCidr(net)} contains the etcd endpoint ${h}`)
  }
  return problems
}

/** The cluster config in etcd is not the one this node joined with. */
export class ConfigChangedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigChangedError'
  }
}

/** Throws ClusterConfigError naming every problem of the config on this host. */
export function assertConfigSafe(config: ClusterConfig, host: HostFacts): void {
  const problems = [...configBoundsProblems(config), ...configHostProblems(config, host)]
  if (problems.length > 0) throw new ClusterConfigError(problems)
}

export const PIN_FILE = 'cluster-config.json'

/** The config's canonical text: what is pinned and compared. */
export function configText(config: ClusterConfig): string {
  return JSON.stringify(clusterConfigJson(config))
}

/** The pinned config text, or undefined on a first start. */
export async function readPin(stateDir: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(join(stateDir, PIN_FILE), 'utf8')).trim()
  } catch {
    return undefined
  }
}

export async function writePin(stateDir: string, config: ClusterConfig): Promise<void> {
  await writeAtomic(join(stateDir, PIN_FILE), `${configText(config)}\n`)
}

/**
 * Why the config read from etcd may not be used given the pinned one (or, from an agent that pinned nothing yet,
 * the Network its state file recorded); undefined when it matches or nothing was pinned.
 */
export function pinMismatch(config: ClusterConfig, pinned: string | undefined, stateNetwork: string | undefined): string | undefined {
  const now = configText(config)
  if (pinned !== undefined) return pinned === now ? undefined : `the cluster config in etcd (${now}) differs from the one this node joined with (${pinned})`
  const network = String(clusterConfigJson(config).Network)
  if (stateNetwork !== undefined && stateNetwork !== network) return `the cluster Network in etcd (${network}) differs from the one this node joined with (${stateNetwork})`
  return undefined
}
