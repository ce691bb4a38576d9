// A private podman 4 (Debian's 4.3) with its CNI network backend for runtime tests: its own root, run root, tmp
// dir, network config dir and containers.conf in a temp dir, running in the test's host network namespace inside a
// private mount namespace (see mount-anchor.ts), with the test's bin dir as its only CNI plugin dir. The network
// config lists are a parameter, so a test can chain more plugins (e.g. a DNS plugin) after tscni's.
import type { Result } from 'execa'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeCgroupParent } from './cgroup-parent.ts'
import type { ConfList } from './cni-runtime.ts'
import { startMountAnchor } from './mount-anchor.ts'
import type { TestNetns } from './netns.ts'

export interface PodmanOptions {
  /** The node: podman, its containers' bridge, veths and host-port rules live in this network namespace. */
  readonly host: TestNetns
  /** cni_plugin_dirs: the only directory podman looks for plugins in. */
  readonly binDir: string
  /** Written to the network config dir as `<name>.conflist`; podman 4.3's libcni reads up to cniVersion 1.0.0. */
  readonly conflists: readonly ConfList[]
}

export interface PrivatePodman {
  readonly dir: string
  readonly confDir: string
  /** libcni's result cache as podman sees it at /var/lib/cni. */
  readonly cniCacheDir: string
  /** Give every container this (`--cgroup-parent`), so cleanup can find it. */
  readonly cgroupParent: string
  /** `podman <global options> ...args` inside the private namespaces; rejects on a non-zero exit unless told. */
  podman(args: readonly string[], options?: { reject?: boolean; timeout?: number }): Promise<Result>
  /** `podman load` of an OCI archive (test/support/oci-image.ts). */
  load(tar: string): Promise<void>
  /** Files in the result cache (results/), one per attachment podman still considers set up. */
  cachedResults(): string[]
  /** Network namespace files still mounted in podman's mount namespace. */
  netnsMounts(): string[]
  /** Removes every container, stops everything and removes the temp dir; never throws. */
  cleanup(): Promise<void>
}

/** Starts nothing long-running by itself: podman is daemonless; the anchor holds the mount namespace. */
export async function startPodman(o: PodmanOptions): Promise<PrivatePodman> {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-podman-'))
  const p = {
    root: join(dir, 'root'),
    runroot: join(dir, 'runroot'),
    tmp: join(dir, 'tmp'),
    conf: join(dir, 'net.d'),
    varlib: join(dir, 'var-lib'),
    containersConf: join(dir, 'containers.conf'),
    storageConf: join(dir, 'storage.conf'),
  }
  for (const d of [p.root, p.runroot, p.tmp, p.conf]) mkdirSync(d, { recursive: true })
  for (const list of o.conflists) writeFileSync(join(p.conf, `${list.name}.conflist`), JSON.stringify(list, null, 2))
  writeFileSync(p.containersConf, containersConf(o.binDir, p.conf, p.tmp))
  writeFileSync(p.storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${p.root}"\nrunroot = "${p.runroot}"\n`)
  const cgroup = makeCgroupParent()
  let anchor: Awaited<ReturnType<typeof startMountAnchor>>
  try {
    anchor = await startMountAnchor(o.host, dir, p.varlib)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }

  // CONTAINERS_CONF makes podman read this file only; the global options are repeated on the command line so that
  // the cleanup command conmon runs when a container exits gets them too.
  const env = { CONTAINERS_CONF: p.containersConf, CONTAINERS_STORAGE_CONF: p.storageConf, PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }
  const globals = ['--network-backend', 'cni', '--network-config-dir', p.conf, '--root', p.root, '--runroot', p.runroot, '--tmpdir', p.tmp, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none']
  const podman = (args: readonly string[], options: { reject?: boolean; timeout?: number } = {}) =>
    anchor.exec('podman', [...globals, ...args], { env, extendEnv: false, reject: options.reject ?? true, timeout: options.timeout ?? 120_000, stdin: 'ignore' }) as unknown as Promise<Result>
  const cniCacheDir = join(p.varlib, 'cni')

  return {
    dir,
    confDir: p.conf,
    cniCacheDir,
    cgroupParent: cgroup.path,
    podman,
    async load(tar) {
      await podman(['load', '-i', tar])
    },
    cachedResults() {
      try {
        return readdirSync(join(cniCacheDir, 'results'))
      } catch {
        return []
      }
    },
    netnsMounts: () => anchor.nsfsMounts(),
    async cleanup() {
      await podman(['rm', '--all', '--force', '--time', '0'], { reject: false, timeout: 60_000 }).catch(() => undefined)
      cgroup.removeAll()
      await anchor.stop()
      cgroup.removeAll()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

// containers.conf(5) of podman 4.3. runc, since crun refuses a hybrid cgroup layout. Modest fixed ulimits: podman
// otherwise asks for nofile 1048576 and a large nproc, and runc must raise the container's hard limits to them,
// which a VM withholding CAP_SYS_RESOURCE refuses ("error setting rlimits for ready process"). k8s-file logs and
// no events, since there may be no journald.
function containersConf(binDir: string, confDir: string, tmpDir: string): string {
  return `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["${binDir}"]
network_config_dir = "${confDir}"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "${tmpDir}"
`
}

