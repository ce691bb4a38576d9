// Pure planning for the DNS role: the attachment's addresses and the gateways, the hosts file of one attachment,
// the dnsmasq config of a network, the upstream servers from resolv.conf, and the result handed to the runtime.
import { formatIp, ipEquals, networkOf, parseCidr, parseIp, type Ip, type IpNet } from '../plugin/addr.ts'
import type { DnsAccess } from '../firewall/model.ts'
import type { Result } from '../plugin/result.ts'

/** The files of one network's server, all under `<dataDir>/<network>/`. */
export interface NetworkPaths {
  readonly dir: string
  readonly conf: string
  readonly pidFile: string
  /** One hosts file per attachment, read by dnsmasq's hostsdir= watch. */
  readonly hostsDir: string
}

/** Where the server of `network` keeps its files. */
export function networkPaths(dataDir: string, network: string): NetworkPaths {
  const dir = `${dataDir.replace(/\/+$/, '')}/${network}`
  return { dir, conf: `${dir}/dnsmasq.conf`, pidFile: `${dir}/dnsmasq.pid`, hostsDir: `${dir}/hosts` }
}

/**
 * The hosts file name of an attachment: container id and interface, as the runtime names them on DEL, joined by
 * ':', which a container id never holds (CNI spec: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`), so no two attachments share
 * a name. (`-` did: id `a-b` with interface `c` and id `a` with `b-c` were one file.)
 */
export function attachmentFile(containerId: string, ifname: string): string {
  return `${containerId}:${ifname}`
}

/**
 * The name tscni 0.1.0 gave the file (`<id>-<ifname>`, ambiguous): DEL, CHECK and GC still find files an older
 * version wrote, so an upgrade leaves no names behind. Only ever used when the attachment has no file of its own.
 */
export function legacyAttachmentFile(containerId: string, ifname: string): string {
  return `${containerId}-${ifname}`
}

/** What the DNS role needs from prevResult: the container's addresses and the gateways on its network. */
export interface NetworkFacts {
  /** Every address on the container interface (or on no named interface), with prefix. */
  readonly addresses: readonly IpNet[]
  /** The gateway of each such address, deduplicated, IPv4 first: where the server listens. */
  readonly gateways: readonly Ip[]
  /** The subnets of those addresses, for the firewall (queries are accepted from them only). */
  readonly subnets: readonly IpNet[]
}

/**
 * Reads the facts from a decoded prevResult. Addresses on host-side interfaces (the bridge, the host veth) are
 * skipped; an address counts when its interface index is unset, out of range, or names the sandboxed `ifname`.
 */
export function networkFacts(prev: Result, ifname: string): NetworkFacts {
  const interfaces = prev.interfaces ?? []
  const addresses: IpNet[] = []
  const gateways: Ip[] = []
  const subnets: IpNet[] = []
  for (const entry of prev.ips ?? []) {
    const itf = entry.interface === undefined ? undefined : interfaces[entry.interface]
    if (itf !== undefined && !(itf.name === ifname && itf.sandbox)) continue
    const net = parseCidr(entry.address)
    if (!net) continue
    addresses.push(net)
    const subnet = networkOf(net)
    if (!subnets.some((s) => s.prefix === subnet.prefix && ipEquals(s.ip, subnet.ip))) subnets.push(subnet)
    const gw = entry.gateway === undefined ? undefined : parseIp(entry.gateway)
    if (gw && !gateways.some((g) => ipEquals(g, gw))) gateways.push(gw)
  }
  gateways.sort((a, b) => a.family - b.family)
  return { addresses, gateways, subnets }
}

/**
 * The hosts file of one attachment: per address one line with every name as `<name>.<domain>` and bare. The
 * qualified name comes first, so a PTR query answers it. Names must already be valid labels (names.ts).
 */
export function hostsFile(addresses: readonly IpNet[], names: readonly string[], domain: string): string {
  if (names.length === 0 || addresses.length === 0) return ''
  const fields = names.flatMap((n) => [`${n}.${domain}`, n])
  return addresses.map((a) => `${formatIp(a.ip)} ${fields.join(' ')}\n`).join('')
}

/** The upstream resolvers listed in resolv.conf text, minus the server's own addresses (a query loop). */
export function upstreamServers(resolvConf: string, own: readonly Ip[]): string[] {
  const out: string[] = []
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    if (!m) continue
    const ip = parseIp(m[1]!)
    if (!ip || own.some((g) => ipEquals(g, ip))) continue
    const text = formatIp(ip)
    if (!out.includes(text)) out.push(text)
  }
  return out
}

/** Everything that decides the content of a network's dnsmasq config. */
export interface ServerSpec {
  readonly network: string
  readonly domain: string
  readonly gateways: readonly Ip[]
  readonly upstream: readonly string[]
  readonly user: string
  readonly paths: NetworkPaths
}

/**
 * dnsmasq's config for one network. It answers only on the gateway addresses (never a wildcard: port 53 on the
 * host may belong to systemd-resolved or libvirt), follows the hosts directory without a signal, answers names
 * in the domain from those files only (NXDOMAIN, never forwarded, for the rest), forwards everything else to the
 * host's resolvers, and drops to an unprivileged user once its sockets are bound. See dnsmasq(8).
 */
export function dnsmasqConfig(spec: ServerSpec): string {
  const lines = [
    `# tscni DNS server for network "${spec.network}"; written by tscni-dnsname, rewritten on change.`,
    'port=53',
    ...spec.gateways.map((g) => `listen-address=${formatIp(g)}`),
    // bind-dynamic binds each listen address as it appears: an IPv6 gateway may still be tentative (DAD).
    'bind-dynamic',
    'except-interface=lo',
    // The host's /etc/hosts is not the network's business.
    'no-hosts',
    // Upstreams are listed here rather than read from a file the unprivileged server might not be able to read.
    'no-resolv',
    ...spec.upstream.map((s) => `server=${s}`),
    // Bare names and reverse lookups of private ranges never leave the host.
    'domain-needed',
    'bogus-priv',
    `domain=${spec.domain}`,
    `local=/${spec.domain}/`,
    // Names come and go with containers: clients must not cache them (TTL 0, as aardvark-dns answers).
    'local-ttl=0',
    `hostsdir=${spec.paths.hostsDir}`,
    `pid-file=${spec.paths.pidFile}`,
    `user=${spec.user}`,
  ]
  return `${lines.join('\n')}\n`
}

/** The runtime's result: prevResult with the gateways as name servers and the domain first in the search list. */
export function withDns(prev: Result, gateways: readonly Ip[], domain: string): Result {
  const search = [domain, ...(prev.dns?.search ?? []).filter((s) => s !== domain)]
  return { ...prev, dns: { ...prev.dns, nameservers: gateways.map(formatIp), search } }
}

/** The firewall intent: queries from each subnet to the gateway of its family. */
export function dnsAccess(network: string, facts: NetworkFacts): DnsAccess {
  const pairs = facts.gateways.flatMap((gateway) => facts.subnets.filter((s) => s.ip.family === gateway.family).map((subnet) => ({ gateway, subnet })))
  return { network, pairs }
}
