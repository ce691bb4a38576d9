// `tscni node run|status|clean`: composes the node agent from options, the System, etcd and the local files.
// Loaded only when the tool runs a node command (a dynamic import in cli/index.ts), never on a plugin call.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import type { CliIo } from '../cli/index.ts'
import type { Outcome } from '../plugin/dispatch.ts'
import { createLogger, type LogLevel } from '../plugin/log.ts'
import { createSystem, type System } from '../system/index.ts'
import { runAgent } from './agent.ts'
import { createEtcdClient, type EtcdClient } from './etcd-client.ts'
import { applyDataPlane, findUplink, pickFirewall, removeFirewall } from './kernel.ts'
import { cniConfPath, readState, removeFile, STATE_FILE } from './local-files.ts'
import { keysOf } from './membership.ts'
import { publishLocal, reconcileOnce } from './node-steps.ts'
import { parseNodeOptions, type NodeOptions } from './options.ts'
import { parseStaticCluster } from './static-peers.ts'
import { nodeStatus, renderStatus } from './status.ts'
import { subnetText } from './subnets.ts'

export const NODE_HELP = `  tscni node run (--etcd-endpoints URLS [--etcd-cafile F --etcd-certfile F --etcd-keyfile F] | --peers FILE)
        [--etcd-prefix /tscni/network] [--init-config JSON] [--iface DEV] [--public-ip IP] [--ttl 60]
        [--resync 30] [--state-dir /var/lib/tscni/node] [--cni-conf-dir /etc/cni/net.d] [--network-name NAME]
        [--bridge cni0] [--ipam-data-dir DIR] [--firewall iptables|nftables] [--insecure-http]
        [--etcd-system-ca] [--accept-config-change]
                                     joins this node to the cluster pod network: leases a subnet of the cluster
                                     CIDR in etcd (config at PREFIX/config, leases at PREFIX/subnets/), watches the
                                     other nodes' leases and programs routes (host-gw) or a VXLAN device with
                                     neighbour and FDB entries (vxlan), masquerades pod-to-outside traffic only,
                                     and writes a CNI conflist for the leased subnet; stops on SIGTERM keeping the
                                     data plane. With --peers FILE (static mode) it applies the declared cluster
                                     once and exits. https needs --etcd-cafile unless --etcd-system-ca; the
                                     cluster config is pinned in the state dir, and a different one in etcd
                                     stops the agent unless --accept-config-change.
  tscni node status [--state-dir DIR] [--json]
                                     this node's subnet, lease and every peer as programmed, checked against
                                     the kernel's routes
  tscni node clean [--etcd-endpoints URLS ...] [--state-dir DIR] [--cni-conf-dir DIR] [--network-name NAME]
                                     removes what the agent set up on this node (tagged routes, VXLAN device,
                                     firewall rules, CNI config, state) and, with etcd, this node's lease
`

/** Runs one node command. */
export async function runNode(args: readonly string[], io: CliIo): Promise<Outcome> {
  const [command, ...rest] = args
  if (command === undefined || command === 'help' || command === '--help') return { stdout: NODE_HELP, stderr: '', exitCode: 0 }
  if (command !== 'run' && command !== 'status' && command !== 'clean') return usage(`unknown node command "${command}"`)
  const options = parseNodeOptions(rest, io.env)
  if (typeof options === 'string') return usage(options)
  const write = io.writeStderr ?? (() => undefined)
  const level = (io.env.TSCNI_LOG_LEVEL as LogLevel | undefined) ?? 'info'
  const log = createLogger(write, 'tscni-node', ['error', 'warn', 'info', 'debug'].includes(level) ? level : 'info')
  const sys = createSystem({ pathEnv: io.pathEnv })
  try {
    switch (command) {
      case 'run':
        if (options.peersFile) return await runStatic(sys, options, log)
        if (options.endpoints.length === 0) return usage('node run needs --etcd-endpoints (or --peers FILE for static mode)')
        {
          const etcd = await etcdFor(options, log)
          const signal = io.onShutdown ? io.onShutdown() : new AbortController().signal
          try {
            await runAgent({ sys, etcd, log, options }, signal)
          } finally {
            etcd.close()
          }
        }
        return { stdout: '', stderr: '', exitCode: 0 }
      case 'status':
        return await status(sys, options)
      case 'clean':
        return await clean(sys, options, log)
    }
  } catch (err) {
    return { stdout: '', stderr: `tscni node ${command}: ${err instanceof Error ? err.message : String(err)}\n`, exitCode: 1 }
  }
}

function usage(message: string): Outcome {
  return { stdout: '', stderr: `tscni node: ${message}\n\n${NODE_HELP}`, exitCode: 2 }
}

async function etcdFor(o: NodeOptions, log?: ReturnType<typeof createLogger>): Promise<EtcdClient> {
  const read = (path: string | undefined) => (path ? fs.readFile(path, 'utf8') : Promise.resolve(undefined))
  if (o.keyFile && log) {
    // The key is the node's etcd identity: whoever reads it can rewrite the cluster's routes.
    const mode = (await fs.stat(o.keyFile)).mode & 0o777
    if ((mode & 0o077) !== 0) log.warn(`--etcd-keyfile ${o.keyFile} is readable by ${mode & 0o007 ? 'everyone' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')}); make it 0600`)
  }
  const [ca, cert, key] = await Promise.all([read(o.caFile), read(o.certFile), read(o.keyFile)])
  return createEtcdClient({ endpoints: o.endpoints, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) })
}

async function runStatic(sys: System, options: NodeOptions, log: ReturnType<typeof createLogger>): Promise<Outcome> {
  const cluster = parseStaticCluster(await fs.readFile(options.peersFile!, 'utf8'))
  for (const w of cluster.warnings) log.warn(w)
  const uplink = await findUplink(sys, options.iface, options.publicIp)
  const publicIp = subnetText(uplink.address).split('/')[0]!
  const self = cluster.leases.find((l) => l.publicIp === publicIp)
  if (!self) return { stdout: '', stderr: `tscni node run: the peers file has no node with this node's PublicIP ${publicIp}\n`, exitCode: 1 }
  const firewall = await pickFirewall(sys, options.firewall)
  await sys.sysctl.ensure('net/ipv4/ip_forward', '1')
  await publishLocal(sys, { options, config: cluster.config, self, uplink, firewall })
  await reconcileOnce(sys, { options, config: cluster.config, self, leases: cluster.leases, uplink, firewall, log, why: 'static' })
  log.info(`applied ${options.peersFile}: subnet ${subnetText(self.subnet)}, ${cluster.leases.length - 1} peer(s)`)
  return { stdout: '', stderr: '', exitCode: 0 }
}

async function status(sys: System, options: NodeOptions): Promise<Outcome> {
  const state = await readState(options.stateDir)
  if (!state) return { stdout: '', stderr: `tscni node status: no node state in ${join(options.stateDir, STATE_FILE)} (has tscni node run run here?)\n`, exitCode: 1 }
  const report = nodeStatus(state, await sys.ip.routes())
  return { stdout: options.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report), stderr: '', exitCode: 0 }
}

async function clean(sys: System, options: NodeOptions, log: ReturnType<typeof createLogger>): Promise<Outcome> {
  const state = await readState(options.stateDir)
  await applyDataPlane(sys, { routes: [], neighbours: [], fdb: [], warnings: [] })
  await removeFirewall(sys)
  await removeFile(state?.cniConfFile ?? cniConfPath(options.cniConfDir, options.networkName))
  if (options.endpoints.length > 0 && state) {
    const etcd = await etcdFor(options)
    try {
      const key = `${keysOf(options.prefix).subnets}${state.subnet.replace('/', '-')}`
      const kv = await etcd.get(key)
      // Only our own lease: after a long downtime the subnet may belong to another node by now.
      if (kv && kv.oversize === undefined && publicIpOf(kv.value) === state.publicIp) await etcd.delete(key)
      if (state.leaseId) await etcd.revoke(state.leaseId)
    } finally {
      etcd.close()
    }
  }
  await removeFile(join(options.stateDir, STATE_FILE))
  log.info(`cleaned${state ? ` (subnet ${state.subnet})` : ''}`)
  return { stdout: '', stderr: '', exitCode: 0 }
}


/** The PublicIP a stored lease value names; undefined when it is not a lease (someone else's garbage included). */
function publicIpOf(value: string): unknown {
  try {
    const v = JSON.parse(value) as unknown
    return typeof v === 'object' && v !== null ? (v as { PublicIP?: unknown }).PublicIP : undefined
  } catch {
    return undefined
  }
}
