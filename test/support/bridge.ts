// Helpers for bridge integration tests: the conf/ files with per-test overrides, a bin dir, what is left in a
// namespace, and traffic between the test's own namespaces (ping, a TCP listener).
import { execa, type ResultPromise } from 'execa'
import { chmodSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfList } from './cni-runtime.ts'
import { normaliseListing } from './firewall-fixtures.ts'
import type { TestNetns } from './netns.ts'
import { binDir, runPlugin, type PluginReply } from './run-plugin.ts'

/** The first plugin (bridge) of a conf/ list, as stdin for one plugin call, with overrides. */
export function bridgeConf(file: string, cniVersion: string, dataDir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const list = loadConfList(resolve('conf', file))
  const plugin = list.plugins[0]!
  const ipam = { ...(plugin.ipam as Record<string, unknown>), dataDir, ...((overrides.ipam as Record<string, unknown>) ?? {}) }
  return { ...plugin, name: list.name, cniVersion, ...overrides, ipam }
}

/**
 * A temporary bin dir for CNI_PATH: our executable under every role name; with `referenceIpam`, `host-local` is
 * the reference plugin instead, so the bridge executes it as it would any other IPAM plugin. The reference
 * (Debian 1.1.1) speaks up to 1.0.0, so a 1.1.0 config reaches it as 1.0.0; its result says 1.0.0, which the
 * bridge reads like any delegate result.
 */
export function makeBinDir(referenceIpam = false): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-bridge-bin-'))
  const exe = join(binDir(), 'tscni')
  for (const name of ['tscni', 'tscni-bridge', 'bridge', 'tscni-host-local', 'portmap', 'tscni-portmap', 'dnsname', 'tscni-dnsname']) symlinkSync(exe, join(dir, name))
  if (referenceIpam) {
    writeFileSync(join(dir, 'host-local'), '#!/bin/sh\nsed \'s/"cniVersion":"1.1.0"/"cniVersion":"1.0.0"/g\' | exec /usr/lib/cni/host-local\n')
    chmodSync(join(dir, 'host-local'), 0o755)
  } else {
    symlinkSync(exe, join(dir, 'host-local'))
  }
  symlinkSync('/usr/lib/cni/static', join(dir, 'static'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The standard role names a bin dir holds. */
export type RoleName = 'bridge' | 'host-local' | 'portmap' | 'loopback'

/**
 * A temporary bin dir for CNI_PATH mixing implementations: the roles in `reference` are Debian's reference plugins
 * (/usr/lib/cni, spec versions up to 1.0.0), every other role is tscni. For interop tests of one plugin chain.
 */
export function makeMixedBinDir(reference: readonly RoleName[]): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-mixed-bin-'))
  const exe = join(binDir(), 'tscni')
  for (const name of ['bridge', 'host-local', 'portmap', 'loopback'] as const) {
    symlinkSync(reference.includes(name) ? join('/usr/lib/cni', name) : exe, join(dir, name))
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A temporary host-local data dir. */
export function makeDataDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-bridge-data-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Reservation files of a network in a data dir (the lock and last_reserved_ip.* files are not reservations). */
export function reservations(dataDir: string, network: string): string[] {
  try {
    return readdirSync(join(dataDir, network)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
  } catch {
    return []
  }
}

/** Link names in a namespace. */
export async function linkNames(ns: TestNetns): Promise<string[]> {
  const links = await ns.ipJson<Array<{ ifname: string }>>(['link', 'show'])
  return links.map((l) => l.ifname).sort()
}

/** One `ip -j -d link show dev X` entry. */
export async function linkDetails(ns: TestNetns, dev: string): Promise<any> {
  const [link] = await ns.ipJson<any[]>(['-d', 'link', 'show', 'dev', dev])
  return link
}

/** Addresses (ip/prefix) of a link, global scope. */
export async function addresses(ns: TestNetns, dev: string): Promise<string[]> {
  const [link] = await ns.ipJson<any[]>(['addr', 'show', 'dev', dev])
  return (link?.addr_info ?? []).filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`)
}

/** nat-table rules and chains of iptables and ip6tables plus the nft ruleset text, in a namespace. */
export async function firewallText(ns: TestNetns): Promise<string> {
  const parts = await Promise.all([
    ns.exec('iptables-save', ['-t', 'nat'], { reject: false }),
    ns.exec('ip6tables-save', ['-t', 'nat'], { reject: false }),
    ns.exec('nft', ['list', 'ruleset'], { reject: false }),
  ])
  return parts.map((p) => normaliseListing(String(p.stdout))).join('\n')
}

/** Pings `addr` from `ns`, a few tries (the first packet may race the bridge port coming up); true on a reply. */
export async function ping(ns: TestNetns, addr: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    const res = await ns.exec('ping', ['-c', '1', '-W', '1', addr], { reject: false })
    if (res.exitCode === 0) return true
  }
  return false
}

/** A TCP listener in a namespace answering every connection with `reply`, on IPv4 and IPv6. */
export function listen(ns: TestNetns, port: number, reply: string): { stop(): void } {
  const proc: ResultPromise = execa('ip', ['netns', 'exec', ns.name, 'socat', `TCP6-LISTEN:${port},fork,reuseaddr,ipv6only=0`, `SYSTEM:echo ${reply}`], { reject: false })
  return { stop: () => void proc.kill('SIGKILL') }
}

/** Connects from `ns` to addr:port and returns what the listener said ('' when nothing answered in `tries` tries). */
export async function tcpGet(ns: TestNetns, addr: string, port: number, tries = 30): Promise<string> {
  const target = `${addr.includes(':') ? `TCP6:[${addr}]` : `TCP4:${addr}`}:${port},connect-timeout=1`
  for (let i = 0; i < tries; i++) {
    const res = await ns.exec('socat', ['-T', '2', '-', target], { reject: false, input: '' })
    const text = String(res.stdout ?? '').trim()
    if (res.exitCode === 0 && text) return text
    await new Promise((r) => setTimeout(r, 100))
  }
  return ''
}

/** What a command run in the namespace printed, trimmed (it must succeed). */
export async function output(ns: TestNetns, cmd: string, args: readonly string[]): Promise<string> {
  return String((await ns.exec(cmd, args)).stdout ?? '').trim()
}

/** Plugin call parameters common to a test. */
export interface Call {
  readonly host: TestNetns
  readonly bin: string
  readonly containerId: string
  readonly netns: string
  readonly ifname?: string
  readonly args?: string
}

/** Runs the bridge role with a verb. */
export function bridge(verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', call: Call, config: unknown): Promise<PluginReply> {
  return runPlugin({ role: 'bridge', verb, config, host: call.host, binDir: call.bin, containerId: call.containerId, netns: call.netns, ifname: call.ifname ?? 'eth0', ...(call.args ? { args: call.args } : {}) })
}

/** Like bridge(), but throws with the whole exchange unless the exit status is 0. */
export async function bridgeOk(verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', call: Call, config: unknown): Promise<PluginReply> {
  const reply = await bridge(verb, call, config)
  if (reply.exitCode !== 0) throw new Error(`bridge ${verb} failed (exit ${reply.exitCode})\nstdout: ${reply.stdout}\nstderr: ${reply.stderr}\nconfig: ${JSON.stringify(config)}`)
  return reply
}
