// Helpers for DNS integration tests: a network list chaining dnsname after the bridge, a DNS data dir the
// unprivileged server can read, queries from inside a pod namespace, a fake upstream resolver that records what
// reaches it, and the servers a test started (found by its own data dir, stopped by pid).
import { execa, type ResultPromise } from 'execa'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfList, type ConfList } from './cni-runtime.ts'
import type { TestNetns } from './netns.ts'

/** A DNS data dir (mode 0755: dnsmasq reads the hosts files after dropping to its own user). */
export function makeDnsDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-dns-'))
  chmodSync(dir, 0o755)
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** conf/bridge-host-local.conflist (dual-stack, gateway) with dnsname chained after the bridge. */
export function dnsNetwork(dataDir: string, dnsDir: string, resolvConf: string, dns: Record<string, unknown> = {}, name?: string): ConfList {
  const list = loadConfList(resolve('conf', 'bridge-host-local.conflist'))
  const bridge = list.plugins[0]!
  return {
    ...list,
    ...(name ? { name } : {}),
    plugins: [
      { ...bridge, ipam: { ...(bridge.ipam as Record<string, unknown>), dataDir } },
      { type: 'dnsname', domainName: 'dns.tscni', dataDir: dnsDir, resolvConf, capabilities: { aliases: true }, ...dns },
    ],
  }
}

/** What one query returned: the answers, or the resolver's error code (ENOTFOUND for NXDOMAIN). */
export interface QueryReply {
  readonly answers?: string[]
  readonly code?: string
}

/** One query with Node's resolver, run inside `ns` (the pod), against `server`. */
export async function query(ns: TestNetns, server: string, name: string, type: 'A' | 'AAAA' | 'PTR'): Promise<QueryReply> {
  const res = await execa('ip', ['netns', 'exec', ns.name, process.execPath, resolve('test/support/dns-query.mjs'), server, name, type], { timeout: 15_000 })
  return JSON.parse(res.stdout) as QueryReply
}

/** Sorted answers of a query, [] when it failed. */
export async function answers(ns: TestNetns, server: string, name: string, type: 'A' | 'AAAA' | 'PTR' = 'A'): Promise<string[]> {
  return [...((await query(ns, server, name, type)).answers ?? [])].sort()
}

/** A fake upstream resolver in the host namespace: answers *.example.test with one address and logs every query. */
export interface FakeUpstream {
  readonly address: string
  /** The names it was asked for so far. */
  queried(): string[]
  stop(): void
}

/** Starts the fake upstream on `address`, added to the loopback of `host`; writes a resolv.conf naming it. */
export async function fakeUpstream(host: TestNetns, dir: string, address = '10.253.0.53'): Promise<FakeUpstream & { resolvConf: string }> {
  await host.exec('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo'])
  const log = join(dir, 'upstream.log')
  const resolvConf = join(dir, 'resolv.conf')
  writeFileSync(resolvConf, `# fake host resolver list\nnameserver ${address}\nsearch example.test\n`)
  const proc: ResultPromise = execa('ip', ['netns', 'exec', host.name, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
    '--user=root', `--listen-address=${address}`, '--bind-interfaces', '--address=/example.test/192.0.2.7', '--log-queries', `--log-facility=${log}`, `--pid-file=${join(dir, 'upstream.pid')}`], { reject: false })
  for (let i = 0; i < 50 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 50))
  return {
    address,
    resolvConf,
    queried: () => {
      const text = existsSync(log) ? readFileSync(log, 'utf8') : ''
      return [...text.matchAll(/query\[\w+\] (\S+) from/g)].map((m) => m[1]!)
    },
    stop: () => void proc.kill('SIGKILL'),
  }
}

/** Pids of the dnsmasq servers started with a config under `dnsDir` (only this test's own). */
export function serversUnder(dnsDir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (cmdline.split('\0').some((a) => a.startsWith(`--conf-file=${dnsDir}/`))) pids.push(Number(entry))
  }
  return pids
}

/** Kills the servers a test started (cleanup after a failed test; a passing one stops them itself). */
export function killServersUnder(dnsDir: string): void {
  for (const pid of serversUnder(dnsDir)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
}
