// The node's local files: its state (leased subnet, lease ID, peers as programmed; read back by a restart and by
// `tscni node status`) and the CNI config that gives pods addresses from the leased subnet. Rendering is pure;
// writes are atomic (temporary file and rename) so a runtime never reads half a config.
import { promises as fs } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'

/** A peer as this node programmed it. */
export interface ProgrammedPeer {
  readonly subnet: string
  readonly publicIp: string
  readonly vtepMac?: string
  /** The route installed: "via <gw> dev <dev>" ("none" when the planner skipped it). */
  readonly route: string
  /** Dual-stack: the peer's IPv6 subnet and the route to it. */
  readonly subnet6?: string
  readonly route6?: string
  readonly publicIpv6?: string
}

/** What `state.json` holds. */
export interface NodeState {
  readonly subnet: string
  readonly publicIp: string
  readonly network: string
  /** Dual-stack: this node's IPv6 subnet and the cluster's IPv6 network (IPv6-only keeps both in subnet/network). */
  readonly subnet6?: string
  readonly network6?: string
  readonly publicIpv6?: string
  readonly backend: string
  readonly mtu: number
  readonly uplink: string
  /** The etcd lease the subnet key is bound to (absent in static mode). */
  readonly leaseId?: string
  readonly firewall: string
  readonly cniConfFile: string
  readonly peers: readonly ProgrammedPeer[]
  readonly warnings: readonly string[]
  readonly updated: string
}

export const STATE_FILE = 'state.json'

/** The state file of a state dir; undefined when absent or unreadable (a first start). */
export async function readState(stateDir: string): Promise<NodeState | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(join(stateDir, STATE_FILE), 'utf8')) as unknown
    return typeof value === 'object' && value !== null && typeof (value as NodeState).subnet === 'string' ? (value as NodeState) : undefined
  } catch {
    return undefined
  }
}

/** Writes a file atomically, creating its directory. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/'
  await fs.mkdir(dir, { recursive: true })
  const tmp = `${path}.tmp-${randomUUID()}`
  await fs.writeFile(tmp, text, { mode: 0o644 })
  await fs.rename(tmp, path)
}

export async function writeState(stateDir: string, state: NodeState): Promise<void> {
  await writeAtomic(join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`)
}

/** The conflist path for a network name (sorted early so runtimes that take the first file pick it). */
export function cniConfPath(confDir: string, networkName: string): string {
  return join(confDir, `10-${networkName}.conflist`)
}

/**
 * The CNI config for pods on this node: the bridge with the leased subnet, `ipMasq:false` because the node owns
 * the cluster-aware masquerade (the bridge's own would also rewrite pod-to-remote-pod traffic, as flannel's
 * cni-plugin avoids with the same setting), the MTU of the path to other nodes, and portmap.
 */
export function renderConflist(o: { name: string; bridge: string; subnet: string; gateway: string; mtu: number; ipamDataDir?: string; subnet6?: string; gateway6?: string; readinessFile?: string }): string {
  // One range set per family: a dual-stack pod gets an address of each (host-local's "ranges", CNI spec
  // conventions); the default route of each family, since pod-to-outside is masqueraded by the node.
  const v6 = o.subnet.includes(':')
  const ipam: Record<string, unknown> = {
    type: 'tscni-host-local',
    ranges: [[{ subnet: o.subnet, gateway: o.gateway }], ...(o.subnet6 ? [[{ subnet: o.subnet6, gateway: o.gateway6 }]] : [])],
    routes: [{ dst: v6 ? '::/0' : '0.0.0.0/0' }, ...(o.subnet6 ? [{ dst: '::/0' }] : [])],
    ...(o.ipamDataDir ? { dataDir: o.ipamDataDir } : {}),
  }
  const conf = {
    cniVersion: '1.0.0',
    name: o.name,
    plugins: [
      { type: 'tscni-bridge', bridge: o.bridge, isGateway: true, ipMasq: false, hairpinMode: true, mtu: o.mtu, ipam, ...(o.readinessFile ? { readinessFile: o.readinessFile } : {}) },
      { type: 'tscni-portmap', capabilities: { portMappings: true } },
    ],
  }
  return `${JSON.stringify(conf, null, 2)}\n`
}

/** Removes a file; no error when it is already gone. */
export async function removeFile(path: string): Promise<void> {
  await fs.rm(path, { force: true })
}
