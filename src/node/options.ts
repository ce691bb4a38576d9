// The options of `tscni node run|status|clean`, checked into one value (pure: no file or network access).
import { parseIp } from '../plugin/addr.ts'
import type { NodeFirewallBackend } from './firewall-rules.ts'

/** Everything the node commands are told on the command line. */
export interface NodeOptions {
  /** etcd endpoints; empty in static mode. */
  readonly endpoints: readonly string[]
  readonly caFile?: string
  readonly certFile?: string
  readonly keyFile?: string
  /** Key prefix: config at `<prefix>/config`, leases under `<prefix>/subnets/`. */
  readonly prefix: string
  /** Static mode: the whole cluster from a file instead of etcd. */
  readonly peersFile?: string
  /** The uplink; default: the device of the default route. */
  readonly iface?: string
  /** The address other nodes reach this one at; default: the uplink's first IPv4 address. */
  readonly publicIp?: string
  /** Lease TTL in seconds. */
  readonly ttl: number
  /** Seconds between full reconciles (routes someone else removed come back). */
  readonly resync: number
  readonly stateDir: string
  readonly cniConfDir: string
  /** The CNI network name of the generated conflist. */
  readonly networkName: string
  readonly bridge: string
  /** host-local's data dir in the generated config; undefined keeps host-local's default. */
  readonly ipamDataDir?: string
  /** Firewall backend for the masquerade; undefined picks iptables when usable, else nftables. */
  readonly firewall?: NodeFirewallBackend
  /** Cluster config JSON to store at `<prefix>/config` when none is there yet. */
  readonly initConfig?: string
  /** Start even when etcd's cluster config differs from the one this node pinned (and pin the new one). */
  readonly acceptConfigChange: boolean
  /** Trust the system's CA roots for etcd's certificate (otherwise https needs --etcd-cafile). */
  readonly etcdSystemCa: boolean
  readonly json: boolean
}

export const DEFAULT_PREFIX = '/tscni/network'
export const DEFAULT_STATE_DIR = '/var/lib/tscni/node'
const DEFAULT_TTL = 60
const DEFAULT_RESYNC = 30

const VALUES = ['--etcd-endpoints', '--etcd-cafile', '--etcd-certfile', '--etcd-keyfile', '--etcd-prefix', '--peers', '--iface', '--public-ip', '--ttl',
  '--resync', '--state-dir', '--cni-conf-dir', '--network-name', '--bridge', '--ipam-data-dir', '--firewall', '--init-config'] as const
const FLAGS = ['--json', '--insecure-http', '--accept-config-change', '--etcd-system-ca'] as const

/** Parses the arguments after `tscni node <command>`; a string is a usage error. */
export function parseNodeOptions(args: readonly string[], env: Readonly<Record<string, string | undefined>>): NodeOptions | string {
  const values: Record<string, string> = {}
  const flags = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if ((FLAGS as readonly string[]).includes(name) && eq === -1) flags.add(name)
    else if ((VALUES as readonly string[]).includes(name)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
      if (value === undefined || value === '') return `${name} needs a value`
      values[name] = value
    } else return `unknown argument "${arg}"`
  }
  const endpointText = values['--etcd-endpoints'] ?? env.TSCNI_ETCD_ENDPOINTS ?? ''
  const endpoints = endpointText.split(',').map((e) => e.trim()).filter((e) => e !== '')
  for (const e of endpoints) {
    let url: URL
    try {
      url = new URL(e)
    } catch {
      return `--etcd-endpoints: "${e}" is not a URL such as https://10.0.0.1:2379`
    }
    if (url.protocol === 'http:' && !flags.has('--insecure-http')) return `--etcd-endpoints: "${e}" is plain HTTP; etcd holds the cluster's routes, so use https (or pass --insecure-http to allow it)`
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `--etcd-endpoints: "${e}" must be https:// (or http:// with --insecure-http)`
  }
  // Any public CA could otherwise vouch for an impostor etcd, which would then own the node's routes.
  if (endpoints.some((e) => e.startsWith('https:')) && !values['--etcd-cafile'] && !flags.has('--etcd-system-ca')) {
    return '--etcd-endpoints: https needs --etcd-cafile (the CA that signed etcd\'s certificate), or --etcd-system-ca to trust the system\'s public roots'
  }
  if (values['--peers'] && endpoints.length > 0) return '--peers (static mode) and --etcd-endpoints exclude each other'
  const tlsFiles = ['--etcd-certfile', '--etcd-keyfile'].filter((k) => values[k] !== undefined)
  if (tlsFiles.length === 1) return '--etcd-certfile and --etcd-keyfile go together'
  const number = (name: string, fallback: number, min: number, max: number): number | string => {
    const text = values[name]
    if (text === undefined) return fallback
    const n = Number(text)
    return Number.isInteger(n) && n >= min && n <= max ? n : `${name} must be an integer from ${min} to ${max} (got "${text}")`
  }
  // etcd refuses TTLs below its minimum (about 1.5 election timeouts) by raising them; 2 s is the practical floor.
  const ttl = number('--ttl', DEFAULT_TTL, 2, 86_400 * 7)
  if (typeof ttl === 'string') return ttl
  const resync = number('--resync', DEFAULT_RESYNC, 1, 86_400)
  if (typeof resync === 'string') return resync
  const publicIp = values['--public-ip']
  if (publicIp !== undefined && parseIp(publicIp)?.family !== 4) return `--public-ip must be an IPv4 address (got "${publicIp}")`
  const firewall = values['--firewall']
  if (firewall !== undefined && firewall !== 'iptables' && firewall !== 'nftables') return `--firewall must be iptables or nftables (got "${firewall}")`
  const prefix = (values['--etcd-prefix'] ?? DEFAULT_PREFIX).replace(/\/+$/, '')
  if (!prefix.startsWith('/')) return `--etcd-prefix must start with "/" (got "${values['--etcd-prefix']}")`
  const name = values['--network-name'] ?? 'tscni-cluster'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return `--network-name "${name}" is not a valid CNI network name`
  const bridge = values['--bridge'] ?? 'cni0'
  if (Buffer.byteLength(bridge) > 15 || !/^[A-Za-z0-9_.-]+$/.test(bridge)) return `--bridge "${bridge}" is not a valid interface name`
  const iface = values['--iface']
  if (iface !== undefined && (Buffer.byteLength(iface) > 15 || !/^[A-Za-z0-9_.@-]+$/.test(iface))) return `--iface "${iface}" is not a valid interface name`
  return {
    endpoints,
    ...(values['--etcd-cafile'] ? { caFile: values['--etcd-cafile'] } : {}),
    ...(values['--etcd-certfile'] ? { certFile: values['--etcd-certfile'] } : {}),
    ...(values['--etcd-keyfile'] ? { keyFile: values['--etcd-keyfile'] } : {}),
    prefix,
    ...(values['--peers'] ? { peersFile: values['--peers'] } : {}),
    ...(iface ? { iface } : {}),
    ...(publicIp ? { publicIp } : {}),
    ttl,
    resync,
    stateDir: values['--state-dir'] ?? DEFAULT_STATE_DIR,
    cniConfDir: values['--cni-conf-dir'] ?? '/etc/cni/net.d',
    networkName: name,
    bridge,
    ...(values['--ipam-data-dir'] ? { ipamDataDir: values['--ipam-data-dir'] } : {}),
    ...(firewall ? { firewall } : {}),
    ...(values['--init-config'] ? { initConfig: values['--init-config'] } : {}),
    json: flags.has('--json'),
    acceptConfigChange: flags.has('--accept-config-change'),
    etcdSystemCa: flags.has('--etcd-system-ca'),
  }
}
