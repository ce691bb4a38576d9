// Helpers for portmap integration tests: the conf/ portmap lists with per-test overrides, a UDP echo and client
// between the test's own namespaces, and what the kernel holds for one container (its rules, counted or listed).
import { execa, type ResultPromise } from 'execa'
import { resolve } from 'node:path'
import { dnatChain } from '../../src/firewall/iptables-rules.ts'
import { HOSTPORT_TABLE, ownerChain } from '../../src/firewall/nft-portmap.ts'
import type { Owner } from '../../src/firewall/model.ts'
import { loadConfList, type ConfList } from './cni-runtime.ts'
import type { TestNetns } from './netns.ts'
import { firewallText } from './bridge.ts'

/** The firewall backends portmap supports. */
export const BACKENDS = ['iptables', 'nftables'] as const
export type Backend = (typeof BACKENDS)[number]

/** Per-test changes to a conf/ portmap list. */
export interface NetworkOverrides {
  readonly name?: string
  readonly bridge?: string
  readonly cniVersion?: string
  /** host-local ranges, replacing the file's dual-stack ones. */
  readonly ranges?: unknown
}

/** conf/bridge-host-local-portmap-<backend>.conflist with a temp dataDir and the given overrides. */
export function portmapNetwork(backend: Backend, dataDir: string, o: NetworkOverrides = {}): ConfList {
  const list = loadConfList(resolve('conf', `bridge-host-local-portmap-${backend}.conflist`))
  const [bridge, ...rest] = list.plugins
  const ipam = { ...(bridge!.ipam as Record<string, unknown>), dataDir, ...(o.ranges ? { ranges: o.ranges } : {}) }
  return {
    ...list,
    ...(o.name ? { name: o.name } : {}),
    ...(o.cniVersion ? { cniVersion: o.cniVersion } : {}),
    plugins: [{ ...bridge!, ...(o.bridge ? { bridge: o.bridge } : {}), ipam }, ...rest],
  }
}

/** The gateway (the host's address on the bridge) of each family in an ADD result. */
export function gateways(result: any): { v4: string; v6: string } {
  const ips = result.ips as Array<{ address: string; gateway?: string }>
  const gw = (v6: boolean) => ips.find((ip) => ip.address.includes(':') === v6)?.gateway ?? ''
  return { v4: gw(false), v6: gw(true) }
}

/** The container's addresses (without prefix) of each family in an ADD result. */
export function containerIps(result: any): { v4: string; v6: string } {
  const ips = result.ips as Array<{ address: string }>
  const ip = (v6: boolean) => ips.find((x) => x.address.includes(':') === v6)?.address.split('/')[0] ?? ''
  return { v4: ip(false), v6: ip(true) }
}

/**
 * Waits (at most `timeoutMs`) until no IPv6 address of `dev` in `ns` is tentative. The bridge's gateway address
 * goes through DAD in the host namespace for about 2 s after the bridge is created (as with the reference bridge);
 * meanwhile the host has no usable source address for it, so its own requests go out from ::1 and are not mapped.
 */
export async function ipv6Settled(ns: TestNetns, dev: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (String((await ns.exec('ip', ['-6', 'addr', 'show', 'dev', dev, 'tentative'])).stdout).trim() === '') return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${dev} in ${ns.name} still has tentative IPv6 addresses after ${timeoutMs} ms`)
}

/**
 * A UDP responder in a namespace, on IPv4 and IPv6: every datagram gets `reply` back from the address it was sent
 * to (socat forks one child per datagram).
 */
export function udpListen(ns: TestNetns, port: number, reply: string): { stop(): void } {
  const proc: ResultPromise = execa('ip', ['netns', 'exec', ns.name, 'socat', `UDP6-RECVFROM:${port},fork,reuseaddr,ipv6only=0`, `SYSTEM:echo ${reply}`], { reject: false })
  return { stop: () => void proc.kill('SIGKILL') }
}

// Sends a datagram every 200 ms until the first answer (printed) or the deadline (exit 1). The socket is connected,
// so only an answer from addr:port itself counts (as for a real client: a reply whose NAT was not reversed is
// dropped). A fixed source port keeps the 5-tuple, and so the conntrack entry, the same across calls.
const UDP_CLIENT = `
const dgram = require('node:dgram')
const [addr, port, sport, ms] = process.argv.slice(1)
const s = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', reuseAddr: true })
s.on('message', (m) => { process.stdout.write(m); process.exit(0) })
s.on('error', () => {})
const send = () => s.send('ping\\n', () => {})
s.bind(Number(sport), () => s.connect(Number(port), addr, () => { send(); setInterval(send, 200) }))
setTimeout(() => process.exit(1), Number(ms))
`

/**
 * Sends UDP from `ns` to addr:port and returns the first answer, trimmed ('' when none came within `timeoutMs`).
 * `sourcePort` 0 lets the kernel choose.
 */
export async function udpGet(ns: TestNetns, addr: string, port: number, options: { sourcePort?: number; timeoutMs?: number } = {}): Promise<string> {
  const res = await ns.exec(process.execPath, ['-e', UDP_CLIENT, addr, String(port), String(options.sourcePort ?? 0), String(options.timeoutMs ?? 3000)], { reject: false, timeout: (options.timeoutMs ?? 3000) + 5000 })
  return res.exitCode === 0 ? String(res.stdout).trim() : ''
}

/** Everything that names one container in the firewall: its id, its portmap chains, its addresses. */
export function ownedPatterns(owner: Owner, addresses: readonly string[]): RegExp[] {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return [
    new RegExp(esc(owner.containerId)),
    new RegExp(esc(dnatChain(owner))),
    new RegExp(esc(ownerChain(owner))),
    // Not followed by another address character, so 10.47.0.2 does not match 10.47.0.23.
    ...addresses.map((a) => new RegExp(`${esc(a)}(?![0-9a-fA-F:.])`)),
  ]
}

/** Lines of iptables-save (nat, both families) and `nft list ruleset` in `ns` matching any pattern. */
export async function ownedLines(ns: TestNetns, patterns: readonly RegExp[]): Promise<string[]> {
  return (await firewallText(ns)).split('\n').filter((l) => !l.startsWith('#') && patterns.some((p) => p.test(l))).map((l) => l.trim())
}

/**
 * How many portmap rules the kernel holds for one owner in a backend: for iptables the rules in its CNI-DN chain
 * and the jumps to it, both families; for nftables the rules in its pm- chain and the jumps to it.
 */
export async function portmapRuleCount(ns: TestNetns, backend: Backend, owner: Owner): Promise<number> {
  if (backend === 'iptables') {
    const chain = dnatChain(owner)
    let n = 0
    for (const tool of ['iptables-save', 'ip6tables-save']) {
      const text = String((await ns.exec(tool, ['-t', 'nat'])).stdout)
      n += text.split('\n').filter((l) => l.startsWith(`-A ${chain} `) || (l.startsWith('-A ') && l.endsWith(`-j ${chain}`))).length
    }
    return n
  }
  const res = await ns.exec('nft', ['-j', 'list', 'table', ...HOSTPORT_TABLE.split(' ')], { reject: false })
  if (res.exitCode !== 0) return 0
  const chain = ownerChain(owner)
  const rules = (JSON.parse(String(res.stdout)).nftables as Array<{ rule?: { chain: string } }>).flatMap((o) => (o.rule ? [o.rule] : []))
  return rules.filter((r) => r.chain === chain || JSON.stringify(r).includes(`"target":"${chain}"`)).length
}
