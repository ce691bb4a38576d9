// Helpers for host-local integration tests: a fresh dataDir per test, configs, and a look at the network directory.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runPlugin, type PluginCall, type PluginReply } from './run-plugin.ts'

/** The Debian reference plugins (containernetworking-plugins 1.1.1: spec versions up to 1.0.0). */
export const REFERENCE_DIR = '/usr/lib/cni'

/** A temp directory for one test; `cleanup()` removes it (call it in afterEach so it also runs on failure). */
export class TempDirs {
  private readonly dirs: string[] = []

  make(prefix = 'tscni-ipam-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
}

/** A host-local network config. */
export function ipamConfig(dataDir: string, ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, cniVersion = '1.0.0', name = 'testnet'): Record<string, unknown> {
  return { cniVersion, name, type: 'host-local', ...extra, ipam: { type: 'host-local', dataDir, ...ipam } }
}

/** Files of `<dataDir>/<network>` mapped to their contents (empty object when the directory does not exist). */
export function netFiles(dataDir: string, network = 'testnet'): Record<string, string> {
  const dir = join(dataDir, network)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return {}
  }
  return Object.fromEntries(names.sort().map((n) => [n, readFileSync(join(dir, n), 'utf8')]))
}

/** Reservation files only (no lock, no last_reserved_ip.*). */
export function reservations(dataDir: string, network = 'testnet'): Record<string, string> {
  return Object.fromEntries(Object.entries(netFiles(dataDir, network)).filter(([n]) => n !== 'lock' && !n.startsWith('last_reserved_ip.')))
}

/** Which implementation to run: ours through a role link, or the reference binary. */
export type Impl = 'tscni' | 'reference'

/** Runs host-local (ours or the reference) for one attachment. CNI_NETNS is a dummy path: host-local never opens it. */
export function hostLocal(impl: Impl, verb: PluginCall['verb'], config: unknown, containerId?: string, extra: Partial<PluginCall> = {}): Promise<PluginReply> {
  const call: PluginCall = {
    role: impl === 'tscni' ? 'tscni-host-local' : 'host-local',
    ...(impl === 'reference' ? { binDir: REFERENCE_DIR } : {}),
    verb,
    config,
    containerId,
    netns: containerId === undefined ? undefined : '/var/run/netns/tscni-ipam-unused',
    ifname: containerId === undefined ? undefined : 'eth0',
    ...extra,
  }
  return runPlugin(call)
}

/** Like hostLocal, but fails the test with the whole exchange on a non-zero exit. */
export async function hostLocalOk(impl: Impl, verb: PluginCall['verb'], config: unknown, containerId?: string, extra: Partial<PluginCall> = {}): Promise<PluginReply> {
  const reply = await hostLocal(impl, verb, config, containerId, extra)
  if (reply.exitCode !== 0) {
    throw new Error(`${impl} host-local ${verb} ${containerId ?? ''} failed (exit ${reply.exitCode})\nstdout: ${reply.stdout}\nstderr: ${reply.stderr}\nconfig: ${JSON.stringify(config)}`)
  }
  return reply
}

/** The first address (without prefix) of an ADD result in 0.3+ shape. */
export function firstIp(reply: PluginReply, index = 0): string {
  return String(reply.json.ips[index].address).split('/')[0]!
}
