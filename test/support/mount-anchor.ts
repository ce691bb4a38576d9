// A private mount namespace entered in a test's host network namespace and held open by an "anchor" process, so a
// runtime's successive commands (and the daemons they leave behind) share one view of the file system, as on a
// real node: /sys is a sysfs of that network namespace with the machine's cgroup hierarchy mounted on it, /run is
// a fresh tmpfs (network namespace pins, runtime state and iptables locks stay private) and /var/lib is a temp dir
// (libcni's result cache /var/lib/cni, which the runtimes here cannot move). Nothing propagates back to the
// machine's mounts; the mounts vanish with the last process in the namespace.
import { execa, type Options, type ResultPromise } from 'execa'
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tryKill } from './cgroup-parent.ts'
import type { TestNetns } from './netns.ts'

export interface MountAnchor {
  readonly pid: number
  /** Runs a command inside the anchor's mount and network namespaces (rejects on a non-zero exit unless told). */
  exec(cmd: string, args: readonly string[], options?: Options): ResultPromise
  /** Network namespace files (nsfs) mounted inside the anchor's mount namespace since it started. */
  nsfsMounts(): string[]
  /** Kills every process of the anchor's mount namespace, the anchor last; never throws. */
  stop(): Promise<void>
}

/**
 * Starts the anchor. `varLib` is mounted over /var/lib; `extra` are more shell lines run (as root, `set -e`) after
 * the standard mounts and before the namespace counts as ready.
 */
export async function startMountAnchor(host: TestNetns, dir: string, varLib: string, extra: readonly string[] = []): Promise<MountAnchor> {
  const cg = join(dir, 'anchor-cgroup')
  const ready = join(dir, 'anchor-ready')
  mkdirSync(cg, { recursive: true })
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  rmSync(ready, { force: true })
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const script = [
    'set -e',
    // The machine's cgroup hierarchy is kept aside while a sysfs of this network namespace replaces /sys.
    `mount --rbind /sys/fs/cgroup ${q(cg)}`,
    'mount -t sysfs sysfs /sys',
    `mount --rbind ${q(cg)} /sys/fs/cgroup`,
    `umount -l ${q(cg)}`,
    'mount -t tmpfs -o mode=755 tmpfs /run',
    `mount --bind ${q(varLib)} /var/lib`,
    ...extra,
    `touch ${q(ready)}`,
    'exec sleep infinity',
  ].join('\n')
  const anchor = execa('nsenter', [`--net=${host.path}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { reject: false, stdin: 'ignore' })
  const until = Date.now() + 10_000
  while (!existsSync(ready)) {
    if ((anchor.exitCode !== undefined && anchor.exitCode !== null) || Date.now() > until) {
      anchor.kill('SIGKILL')
      const r = await anchor
      throw new Error(`the private mount namespace could not be prepared: ${r.stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const pid = anchor.pid!
  const nsfs = () => {
    try {
      return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(' - nsfs ')).map((l) => l.split(' ')[4]!)
    } catch {
      return []
    }
  }
  // The machine's own pins (such as the test's host namespace under /run/netns) are inherited: not the runtime's.
  const inherited = new Set(nsfs())
  return {
    pid,
    exec: (cmd, args, options = {}) => execa('nsenter', ['--target', String(pid), '--mount', '--net', cmd, ...args], { timeout: 120_000, ...options }),
    nsfsMounts: () => nsfs().filter((m) => !inherited.has(m)),
    async stop() {
      for (const p of pidsInMountNs(pid)) if (p !== pid) tryKill(p)
      anchor.kill('SIGKILL')
      await anchor.catch(() => undefined)
    },
  }
}

/** Processes sharing the mount namespace of `pid`. */
export function pidsInMountNs(pid: number): number[] {
  let ns: string
  try {
    ns = readlinkSync(`/proc/${pid}/ns/mnt`)
  } catch {
    return []
  }
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) === ns) out.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return out
}
