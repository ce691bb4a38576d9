// Runs cnitool, the CNI project's reference client (built offline by scripts/build-cnitool.sh), inside a test's
// host namespace: its config dir and CNI_PATH are the test's, and its result cache is a private directory.
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { execa, type Result } from 'execa'
import type { TestNetns } from './netns.ts'

/** Where scripts/build-cnitool.sh puts the binary (git-ignored). */
export const CNITOOL = resolve('.cache/bin/cnitool')

/** What every cnitool call of a test shares. */
export interface CnitoolSetup {
  readonly host: TestNetns
  /** NETCONFPATH: holds the test's .conflist files. */
  readonly confDir: string
  /** CNI_PATH. */
  readonly binDir: string
  /**
   * Mounted over /var/lib for the call, so libcni's cache (/var/lib/cni, which this cnitool cannot move: it has no
   * cache-dir setting) is `<varLib>/cni` and survives from one call to the next.
   */
  readonly varLib: string
}

/** One cnitool call: `cnitool <verb> <network> <netns>`, with CAP_ARGS and CNI_ARGS when given. */
export function cnitool(
  setup: CnitoolSetup,
  verb: 'add' | 'check' | 'del',
  network: string,
  netns: string,
  options: { capArgs?: unknown; cniArgs?: string; ifname?: string } = {},
): Promise<Result> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    NETCONFPATH: setup.confDir,
    CNI_PATH: setup.binDir,
  }
  if (options.capArgs !== undefined) env.CAP_ARGS = JSON.stringify(options.capArgs)
  if (options.cniArgs !== undefined) env.CNI_ARGS = options.cniArgs
  if (options.ifname !== undefined) env.CNI_IFNAME = options.ifname
  // A private mount namespace (propagation private, so nothing reaches the machine's mounts) for the bind mount.
  const script = 'mount --bind "$1" /var/lib && shift && exec "$@"'
  return execa('ip', ['netns', 'exec', setup.host.name, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', setup.varLib, CNITOOL, verb, network, netns], {
    env,
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  })
}

/** The container id cnitool derives from the netns path: "cnitool-" and the first 10 bytes of its SHA-512, in hex. */
export function cnitoolContainerId(netns: string): string {
  return `cnitool-${createHash('sha512').update(netns).digest('hex').slice(0, 20)}`
}
