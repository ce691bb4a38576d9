// Helpers for the firewall role's integration tests: a bin dir holding tscni under every standard name a runtime's
// default network chains, the filter-table and nftables state the role owns, and traffic probes between namespaces.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binDir } from './run-plugin.ts'
import type { TestNetns } from './netns.ts'

/** The standard names the runtimes' default lists use (podman, nerdctl, Nomad), plus tscni's own names. */
export const STANDARD_NAMES = ['bridge', 'host-local', 'portmap', 'loopback', 'firewall', 'tuning', 'dnsname'] as const

/** A temp bin dir: tscni under every standard name except those in `reference`, which are Debian's plugins. */
export function runtimeBinDir(reference: readonly string[] = []): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-fw-bin-'))
  const exe = join(binDir(), 'tscni')
  symlinkSync(exe, join(dir, 'tscni'))
  for (const name of STANDARD_NAMES) {
    symlinkSync(reference.includes(name) ? join('/usr/lib/cni', name) : exe, join(dir, name))
    symlinkSync(exe, join(dir, `tscni-${name}`))
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * The firewall role's state in a namespace: filter-table lines of both families naming its chains (CNI-FORWARD,
 * the admin chain, the isolation stages) and every line of tscni's nft table. Empty when nothing is left.
 */
export async function forwardState(ns: TestNetns, adminChain = 'CNI-ADMIN'): Promise<string[]> {
  const names = ['CNI-FORWARD', adminChain, 'CNI-ISOLATION-STAGE']
  const out: string[] = []
  for (const [tool, tag] of [['iptables-save', 'v4'], ['ip6tables-save', 'v6']] as const) {
    const text = String((await ns.exec(tool, ['-t', 'filter'], { reject: false })).stdout)
    for (const line of text.split('\n')) if (names.some((n) => line.includes(n))) out.push(`${tag} ${line.trim()}`)
  }
  const nft = await ns.exec('nft', ['list', 'table', 'inet', 'tscni_firewall'], { reject: false })
  if (nft.exitCode === 0) out.push(...String(nft.stdout).split('\n').map((l) => `nft ${l.trim()}`).filter((l) => l !== 'nft '))
  return out
}

/** Filter-table rules (`-A ...` lines) of one family in a namespace. */
export async function filterRules(ns: TestNetns, family: 4 | 6 = 4): Promise<string[]> {
  const text = String((await ns.exec(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'filter'], { reject: false })).stdout)
  return text.split('\n').filter((l) => l.startsWith('-A ')).map((l) => l.trim())
}

/** Whether `from` gets a ping answer from `addr` (two tries, one second each). */
export async function reaches(from: TestNetns, addr: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    const res = await from.exec('ping', ['-c', '1', '-W', '1', addr], { reject: false })
    if (res.exitCode === 0) return true
  }
  return false
}

/**
 * A namespace "beyond the host": joined to `host` by a veth, `hostAddr`/24 on the host's side and `addr`/24 on its
 * own, with its default route back through the host (so it answers container addresses, masqueraded or not).
 */
export async function outsideNamespace(pool: { create(prefix?: string): Promise<TestNetns> }, host: TestNetns, hostAddr: string, addr: string): Promise<TestNetns> {
  const outside = await pool.create('tscni-o')
  const [a, b] = [`o${outside.name.slice(-6)}`, `h${outside.name.slice(-6)}`]
  await host.exec('ip', ['link', 'add', b, 'type', 'veth', 'peer', 'name', a, 'netns', outside.name])
  await host.exec('ip', ['addr', 'add', `${hostAddr}/24`, 'dev', b])
  await host.exec('ip', ['link', 'set', b, 'up'])
  await outside.exec('ip', ['addr', 'add', `${addr}/24`, 'dev', a])
  await outside.exec('ip', ['link', 'set', a, 'up'])
  await outside.exec('ip', ['route', 'add', 'default', 'via', hostAddr])
  await host.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  return outside
}
