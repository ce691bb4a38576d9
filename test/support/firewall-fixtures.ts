// Intents, owners and namespace dumps shared by the firewall integration tests and the benchmark.
import { readFileSync } from 'node:fs'
import { parseCidr } from '../../src/plugin/addr.ts'
import type { MasqIntent, Owner, PortmapIntent } from '../../src/firewall/model.ts'
import type { TestNetns } from './netns.ts'

/** An owner on network `network` (default "net1"). */
export function owner(containerId: string, network = 'net1', ifname = 'eth0'): Owner {
  return { network, containerId, ifname }
}

/** A dual-stack portmap intent with a TCP and a UDP mapping, addresses derived from `n`. */
export function portmapIntent(o: Owner, n = 2, port = 8080): PortmapIntent {
  return {
    kind: 'portmap', owner: o, snat: true, masqAll: false, markMasqBit: 13,
    containerV4: parseCidr(v4(n)),
    containerV6: parseCidr(`fd00:88::${(n + 2).toString(16)}/64`),
    mappings: [
      { hostPort: port, containerPort: 80, protocol: 'tcp' },
      { hostPort: port, containerPort: 53, protocol: 'udp' },
    ],
  }
}

/** A dual-stack masquerade intent. */
export function masqIntent(o: Owner, n = 2): MasqIntent {
  return { kind: 'masquerade', owner: o, addresses: [parseCidr(v4(n))!, parseCidr(`fd00:88::${(n + 2).toString(16)}/64`)!] }
}

/** The nat tables of both families as iptables-save prints them, without the timestamp comments. */
export async function iptablesDump(ns: TestNetns): Promise<string> {
  const [v4, v6] = await Promise.all([ns.exec('iptables-save', ['-t', 'nat']), ns.exec('ip6tables-save', ['-t', 'nat'])])
  return normaliseListing(`${String(v4.stdout)}\n${String(v6.stdout)}`)
}

/**
 * A firewall listing (iptables-save, ip6tables-save or `nft list ruleset`) without what changes by itself as
 * packets flow: iptables-save's time-stamped comments, its `[packets:bytes]` counters (chains, and rules with -c),
 * and nft's `counter packets N bytes M` statements. Comparing two listings after normalising shows rule changes only.
 */
export function normaliseListing(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l
      .replace(/ \[\d+:\d+\]$/, ' [0:0]')
      .replace(/^\[\d+:\d+\] /, '[0:0] ')
      .replace(/\bcounter packets \d+ bytes \d+/g, 'counter packets 0 bytes 0'))
    .join('\n')
}

/** `nft -j list ruleset` as text (handles included, so a rewrite shows up as a difference). */
export async function nftDump(ns: TestNetns): Promise<string> {
  return String((await ns.exec('nft', ['-j', '-a', 'list', 'ruleset'])).stdout)
}

// 10.88.x.y/16 for container number n (0..62000), unique per n.
function v4(n: number): string {
  return `10.88.${Math.floor(n / 250)}.${(n % 250) + 2}/16`
}

/** A recorded file under test/fixtures/firewall/. */
export function firewallFixture(name: string): string {
  return readFileSync(new URL(`../fixtures/firewall/${name}`, import.meta.url), 'utf8')
}

/** The owner of the recorded samples. */
export const sampleOwner: Owner = { network: 'test', containerId: 'c1', ifname: 'eth0' }

/**
 * The intent whose ensure produced the recorded portmap states (save-v4-tscni-portmap-masq.txt,
 * nft-hostport-list.json) on the real kernel: the digest's golden mappings, dual stack.
 */
export const samplePortmap: PortmapIntent = {
  kind: 'portmap', owner: sampleOwner, containerV4: parseCidr('10.0.0.2/24'), containerV6: parseCidr('2001:db8::2/64'), snat: true, masqAll: false, markMasqBit: 13,
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8080, containerPort: 81, protocol: 'udp' }, { hostPort: 8083, containerPort: 83, protocol: 'tcp', hostIp: '192.168.0.2' },
    { hostPort: 8084, containerPort: 84, protocol: 'tcp', hostIp: '0.0.0.0' }, { hostPort: 8085, containerPort: 85, protocol: 'tcp', hostIp: '2001:db8:a::1' },
  ],
}

/** The masquerade intent of the recorded samples (nft-masq-list.json and the iptables save). */
export const sampleMasq: MasqIntent = { kind: 'masquerade', owner: sampleOwner, addresses: [parseCidr('10.0.0.2/24')!, parseCidr('2001:db8::2/64')!] }
