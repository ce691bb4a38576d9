// Facts of a healthy node for doctor's unit tests, and a helper to vary them.
import type { DoctorFacts, ToolFact, ToolName } from '../../../src/cli/doctor-checks.ts'
import { TOOLS } from '../../../src/cli/doctor-checks.ts'
import type { NetworkInfo, ReservationInfo } from '../../../src/cli/networks.ts'
import type { CacheEntry } from '../../../src/cli/runtime-cache.ts'

const VERSIONS: Partial<Record<ToolName, string>> = {
  ip: 'ip utility, iproute2-6.1.0, libbpf 1.1.2',
  bridge: 'bridge utility, 6.1.0',
  nsenter: 'nsenter from util-linux 2.38.1',
  flock: 'flock from util-linux 2.38.1',
  iptables: 'iptables v1.8.9 (nf_tables)',
  ip6tables: 'ip6tables v1.8.9 (nf_tables)',
  nft: 'nftables v1.0.6 (Lester Gooch #5)',
  conntrack: 'conntrack v1.4.7 (conntrack-tools)',
  dnsmasq: 'Dnsmasq version 2.90  Copyright (c) 2000-2024 Simon Kelley',
}

/** Every tool present, with versions where they print one. */
export function allTools(): Record<ToolName, ToolFact> {
  return Object.fromEntries(TOOLS.map((t) => [t, { path: `/usr/sbin/${t}`, ...(VERSIONS[t] ? { version: VERSIONS[t] } : {}) }])) as Record<ToolName, ToolFact>
}

/** `tools` without the named ones. */
export function without(...missing: ToolName[]): Record<ToolName, ToolFact> {
  const tools = allTools()
  for (const t of missing) tools[t] = {}
  return tools
}

/** A network directory with reservations. */
export function network(name: string, reservations: ReservationInfo[]): NetworkInfo {
  return { name, dir: `/data/${name}`, reservations }
}

/** A cniCacheV1 entry. */
export function entry(network: string, containerId: string, ifname: string, netns: string): CacheEntry {
  return { file: `/cache/results/${network}-${containerId}-${ifname}`, network, containerId, ifname, netns }
}

/** A root node with every tool, both backends, an empty data dir, one config, a cache dir and empty listings. */
export function healthy(overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    uid: 0,
    capNetAdmin: true,
    tools: allTools(),
    probe: { iptables4: true, iptables6: true, nft: true },
    forwarding: { ipv4: '1', ipv6: '0' },
    dataDir: { exists: true, isDirectory: true, writable: true },
    confFiles: ['10-tscni.conflist'],
    node: { dataDir: '/data', confDir: '/conf', networks: [], notes: [] },
    cache: { cacheDir: '/cache', present: true, entries: [], unreadable: [] },
    netns: {},
    listings: { iptables: { text: '' }, ip6tables: { text: '' }, nftables: { text: '{"nftables": []}' } },
    ...overrides,
  }
}
