// The tscni command for people: help, version, install, ls, gc, doctor. Never on a plugin's stdout path.
import type { Outcome } from '../plugin/dispatch.ts'
import { SUPPORTED_VERSIONS } from '../plugin/version.ts'
import { DEFAULT_DATA_DIR } from '../ipam/config.ts'
import { DEFAULT_CACHE_DIR, runDoctor } from './doctor.ts'
import { runInstall } from './install.ts'
import { runInstallWithConflist } from './install-conflist.ts'
import { runGc } from './gc.ts'
import { DEFAULT_DNS_DIR } from './dns-names.ts'
import { runLs } from './ls.ts'
import { runReconcile } from './reconcile.ts'
import { DEFAULT_CONF_DIR } from './networks.ts'
import { TSCNI_VERSION } from './version.ts'
import type { CliIo } from './io.ts'


/** The help text; the defaults it names are the constants the commands use. */
export const HELP = `tscni ${TSCNI_VERSION}: CNI bridge, host-local, portmap, firewall, tuning, bandwidth, loopback and
dnsname plugins in one executable

Usage:
  tscni help                         this text
  tscni version                      versions of tscni and of the CNI spec it speaks
  tscni install --bin-dir DIR [--standard-names] [--force]
                                     copy this executable into DIR (e.g. /opt/cni/bin) and link its roles:
                                     tscni-bridge, tscni-host-local, tscni-portmap, tscni-firewall,
                                     tscni-tuning, tscni-bandwidth, tscni-loopback, tscni-dnsname; with
                                     --standard-names also their standard names (bridge, host-local, ...;
                                     replacing the reference plugins needs --force)
  tscni install --bin-dir DIR [...] --conflist FILE [--conf-dir /etc/cni/net.d]
                                     also copy the config list FILE into the conf dir atomically (temp file
                                     and rename in that dir): a runtime never reads half a config
  tscni ls [--data-dir DIR] [--conf-dir DIR] [--dns-dir DIR] [--json]
                                     networks under the host-local data dir (default ${DEFAULT_DATA_DIR}),
                                     how full their ranges are (from the configs in ${DEFAULT_CONF_DIR}), which
                                     container and interface hold each address, and the DNS names dnsname
                                     publishes on each network (from --dns-dir, default ${DEFAULT_DNS_DIR})
  tscni gc --network NAME --valid FILE|- [--data-dir DIR] [--dns-dir DIR] [--dry-run]
                                     release the addresses, firewall rules (masquerade, port mappings) and DNS
                                     names of NAME whose attachment is not in FILE: a JSON list of
                                     {"containerID": "...", "ifname": "..."} ("-" reads stdin; [] means none)
  tscni node run --etcd-endpoints URLS [--etcd-cafile F --etcd-certfile F --etcd-keyfile F] [options]
  tscni node run --peers FILE [options]
                                     the node agent: joins this node to one pod network across nodes (a subnet
                                     of the cluster CIDR leased in etcd, routes by host-gw or VXLAN to the other
                                     nodes' subnets, masquerade for pod-to-outside only, a CNI config for the
                                     leased subnet); with --peers, a static cluster applied once
  tscni node status [--state-dir DIR] [--json]
                                     this node's subnet and every peer as programmed
  tscni node clean [--etcd-endpoints URLS ...]
                                     removes what the agent set up on this node, and its lease
  tscni node help                    every node option
  tscni doctor [--data-dir DIR] [--conf-dir DIR] [--cache-dir DIR] [--state-dir DIR] [--json]
                                     checks the node before the first pod: privileges, tools and versions (ip,
                                     nsenter, flock, sh, bridge, iptables, nft, conntrack, dnsmasq), which firewall
                                     backend would be chosen and why, forwarding, the data dir, configs, leaked reservations
                                     (checked against the runtime's result cache under --cache-dir, default
                                     ${DEFAULT_CACHE_DIR}), stale firewall rules, and missing rules of live
                                     attachments and dead ones (from tscni's attachment records, remedy: tscni
                                     reconcile); exits 1 when something is wrong
  tscni reconcile [--state-dir DIR] [--cache-dir DIR] [--dry-run] [--watch [--interval SECONDS] [--health-addr IP:PORT]]
                                     restore the masquerade, host-port and MAC spoof-check rules of every live
                                     attachment from tscni's records (default /var/lib/tscni/attachments), e.g.
                                     after a firewall reload; release attachments whose namespace is gone and
                                     that the runtime's cache no longer lists (after a reboot); --watch repeats
                                     every 2 s (--interval), printing only what it changed; --health-addr
                                     serves GET /healthz and /readyz (ready: the last pass succeeded)

Environment:
  TSCNI_SYSTEM_PATH                  where tscni looks for its tools (ip, bridge, nsenter, sh, flock, iptables,
                                     nft, conntrack, dnsmasq) besides $PATH
                                     (default /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  TSCNI_STATE_DIR                    where attachment records are kept (default /var/lib/tscni/attachments)

As a CNI plugin, run it through one of those names (or "tscni ROLE") with CNI_COMMAND set.
`

/** Runs one command; usage errors exit 2, failures 1. */
export async function runCli(args: readonly string[], io: CliIo): Promise<Outcome> {
  const [command = 'help', ...rest] = args
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      return { stdout: HELP, stderr: '', exitCode: 0 }
    case 'version':
    case '--version':
      return {
        stdout: `tscni ${TSCNI_VERSION}\nCNI spec versions: ${SUPPORTED_VERSIONS.join(', ')}\nruntime: Node ${io.nodeVersion}${io.isSea ? ' (single executable)' : ''}\n`,
        stderr: '',
        exitCode: 0,
      }
    case 'install':
      // With --conflist the network config is written too (install-conflist.ts), atomically.
      if (rest.some((a) => a === '--conflist' || a.startsWith('--conflist='))) return runInstallWithConflist(rest, io)
      return runInstall(rest, io)
    case 'ls':
      return runLs(rest)
    case 'gc':
      return runGc(rest, io)
    case 'doctor':
      return runDoctor(rest, io)
    case 'reconcile':
      return runReconcile(rest, io)
    case 'node':
      // A dynamic import: the node agent (etcd client, planner) is initialised only for this command.
      return (await import('../node/cli.ts')).runNode(rest, io)
    default:
      return { stdout: '', stderr: `tscni: unknown command "${command}"\n\n${HELP}`, exitCode: 2 }
  }
}
