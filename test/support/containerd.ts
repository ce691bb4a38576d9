// A private containerd 1.6 with its CRI plugin for node tests: own root, state, socket and config in a temp dir,
// running in the test's host network namespace and a private mount namespace, with tscni as its CNI bin dir.
//
// Isolation: an "anchor" process holds a private mount namespace (entered in the host network namespace) where
// /sys is a sysfs of that network namespace (the plugins read /sys/class/net), /sys/fs/cgroup is the machine's,
// /run is a fresh tmpfs (shim sockets, runc state and iptables locks stay private) and /var/lib is a temp dir (the
// CNI result cache /var/lib/cni, which containerd 1.6's CRI cannot move). containerd runs inside the anchor's
// namespaces, so a restart keeps the netns pins the CRI plugin made (as a real node's single mount namespace does).
// Pod processes live under one cgroup parent per instance, so cleanup finds every one of them even after a crash.
import { execa, type Options, type ResultPromise } from 'execa'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeCgroupParent, tryKill } from './cgroup-parent.ts'
import { CriClient } from './cri-client.ts'
import { pidsInMountNs } from './mount-anchor.ts'
import type { TestNetns } from './netns.ts'

export interface ContainerdOptions {
  /** The node: containerd, its pods' bridge, veths and firewall rules live in this network namespace. */
  host: TestNetns
  /** The tscni executable to install under the standard names. */
  tscni: string
  /** The CNI network list (conflist) the CRI plugin loads, given the instance's host-local data dir. */
  conflist: (dirs: { dataDir: string }) => Record<string, unknown>
  /** The sandbox image reference (imported with `importImage` before the first pod). */
  sandboxImage: string
  /**
   * Also mount the instance's CNI bin and conf dirs over /opt/cni/bin and /etc/cni/net.d inside its mount namespace,
   * for clients with fixed CNI paths (`ctr run --cni` 1.6 has no flags for them). /etc/cni/net.d must exist as a
   * mount point (Debian's podman package ships it); /opt gets a tmpfs so /opt/cni/bin need not exist.
   */
  cniAtDefaultPaths?: boolean
}

export interface PrivateContainerd {
  readonly dir: string
  readonly socket: string
  readonly binDir: string
  readonly confDir: string
  /** host-local's data dir for the conflist. */
  readonly dataDir: string
  /** tscni's invocation log (TSCNI_LOG_FILE in containerd's environment, inherited by every plugin call). */
  readonly pluginLog: string
  /** libcni's cache (results/) as containerd's plugins see it at /var/lib/cni. */
  readonly cniCacheDir: string
  /** Where the CRI plugin pins pod network namespaces (netns_mounts_under_state_dir). */
  readonly netnsPinDir: string
  /** The cgroup parent every pod of this instance must be given (PodSandboxConfig.linux.cgroupParent). */
  readonly cgroupParent: string
  /** `ctr -n k8s.io ...` against this instance, inside its namespaces. */
  ctr(args: readonly string[]): Promise<string>
  /** Starts any command inside the instance's namespaces (its own mount namespace, the host network namespace). */
  spawn(cmd: string, args: readonly string[], options?: Options): ResultPromise
  importImage(tar: string): Promise<void>
  /** Kills containerd (SIGTERM, then SIGKILL) and starts it again on the same state; pods keep running. */
  restart(): Promise<void>
  /** Network namespace pins still mounted in the anchor's mount namespace. */
  pinnedNetns(): string[]
  /** Stops everything (pods, shims, containerd, anchor) and removes the temp dir; never throws. */
  cleanup(): Promise<void>
}

/** Starts a private containerd and waits until its CRI service answers. */
export async function startContainerd(o: ContainerdOptions): Promise<PrivateContainerd> {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-containerd-'))
  const p = {
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'containerd.sock'),
    bin: join(dir, 'cni-bin'),
    conf: join(dir, 'cni-conf'),
    varlib: join(dir, 'var-lib'),
    opt: join(dir, 'opt'),
    ready: join(dir, 'anchor-ready'),
    log: join(dir, 'containerd.log'),
    data: join(dir, 'cni-networks'),
    pluginLog: join(dir, 'plugins.log'),
  }
  for (const d of [p.bin, p.conf, join(p.varlib, 'cni'), p.opt]) mkdirSync(d, { recursive: true })
  const snapshotter = snapshotterFor(dir)
  const cgroups = makeCgroupParent()
  const cgroupParent = cgroups.path
  let anchor: ResultPromise | undefined
  let daemon: ResultPromise | undefined

  const cleanup = async () => {
    await stopDaemon()
    cgroups.killAll()
    // Shims outlive containerd by design; they are the anchor namespace's only other processes.
    if (anchor?.pid) for (const pid of pidsInMountNs(anchor.pid)) if (pid !== anchor.pid) tryKill(pid)
    anchor?.kill('SIGKILL')
    await anchor?.catch(() => undefined)
    cgroups.removeDirs()
    rmSync(dir, { recursive: true, force: true })
  }

  const stopDaemon = async () => {
    if (!daemon) return
    const d = daemon
    daemon = undefined
    d.kill('SIGTERM')
    const t = setTimeout(() => d.kill('SIGKILL'), 10_000)
    await d.catch(() => undefined)
    clearTimeout(t)
  }

  const startDaemon = async () => {
    const a = anchor!
    daemon = execa('nsenter', ['--target', String(a.pid), '--mount', '--net', 'containerd', '--config', join(dir, 'config.toml'), '--log-level', 'info'], {
      reject: false,
      env: { TSCNI_LOG_FILE: p.pluginLog },
      stdin: 'ignore',
      stdout: { file: p.log, append: true },
      stderr: { file: p.log, append: true },
    })
    const until = Date.now() + 30_000
    for (;;) {
      // The CRI plugin answers "server is not initialized yet" until it has recovered its pods' state.
      if (await criReady(p.socket)) return
      if (daemon.exitCode !== undefined && daemon.exitCode !== null) break
      if (Date.now() > until) break
      await sleep(200)
    }
    throw new Error(`private containerd did not start; its log ends:\n${tail(p.log)}`)
  }

  try {
    // The CNI bin dir holds tscni alone (bridge, host-local, portmap, loopback), as `tscni install` lays it out.
    execFileSync(o.tscni, ['install', '--bin-dir', p.bin, '--standard-names'], { stdio: 'pipe' })
    if (!existsSync(join(p.bin, 'loopback'))) throw new Error('tscni install --standard-names did not install loopback')
    writeFileSync(join(p.conf, '10-tscni.conflist'), JSON.stringify(o.conflist({ dataDir: p.data }), null, 2))
    writeFileSync(join(dir, 'config.toml'), configToml(p, o.sandboxImage, snapshotter))

    const script = [
      'set -e',
      `mkdir -p ${dir}/cg`,
      `mount --rbind /sys/fs/cgroup ${dir}/cg`,
      'mount -t sysfs sysfs /sys',
      `mount --rbind ${dir}/cg /sys/fs/cgroup`,
      `umount -l ${dir}/cg`,
      'mount -t tmpfs -o mode=755 tmpfs /run',
      `mount --bind ${p.varlib} /var/lib`,
      ...(o.cniAtDefaultPaths
        ? ['mount -t tmpfs -o mode=755 tmpfs /opt', 'mkdir -p /opt/cni/bin', `mount --bind ${p.bin} /opt/cni/bin`, `mount --bind ${p.conf} /etc/cni/net.d`]
        : []),
      `touch ${p.ready}`,
      'exec sleep infinity',
    ].join('\n')
    anchor = execa('nsenter', [`--net=${o.host.path}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { reject: false, stdin: 'ignore' })
    const until = Date.now() + 10_000
    while (!existsSync(p.ready)) {
      if (anchor.exitCode !== undefined && anchor.exitCode !== null || Date.now() > until) {
        const r = await anchor
        throw new Error(`the mount namespace for containerd could not be prepared: ${r.stderr}`)
      }
      await sleep(50)
    }
    await startDaemon()
  } catch (err) {
    await cleanup()
    throw err
  }

  const inNs = (cmd: string, args: readonly string[]) =>
    execa('nsenter', ['--target', String(anchor.pid), '--mount', '--net', cmd, ...args], { timeout: 60_000 })

  return {
    dir,
    socket: p.socket,
    binDir: p.bin,
    confDir: p.conf,
    dataDir: p.data,
    pluginLog: p.pluginLog,
    cniCacheDir: join(p.varlib, 'cni'),
    netnsPinDir: join(p.state, 'io.containerd.grpc.v1.cri', 'netns'),
    cgroupParent,
    async ctr(args) {
      return (await inNs('ctr', ['--address', p.socket, '--namespace', 'k8s.io', ...args])).stdout
    },
    spawn: (cmd, args, options = {}) => execa('nsenter', ['--target', String(anchor.pid), '--mount', '--net', cmd, ...args], { timeout: 120_000, ...options }),
    async importImage(tar) {
      await inNs('ctr', ['--address', p.socket, '--namespace', 'k8s.io', 'images', 'import', '--snapshotter', snapshotter, tar])
    },
    async restart() {
      await stopDaemon()
      await startDaemon()
    },
    pinnedNetns() {
      const info = readFileSync(`/proc/${anchor.pid}/mountinfo`, 'utf8')
      // Only this instance's pins: the anchor's mount table also holds copies of the machine's own mounts.
      const pinDir = join(p.state, 'io.containerd.grpc.v1.cri', 'netns')
      return info.split('\n').filter((l) => l.includes(' - nsfs ')).map((l) => l.split(' ')[4]!).filter((m) => m.startsWith(`${pinDir}/`))
    },
    cleanup,
  }
}

interface Paths { root: string; state: string; socket: string; bin: string; conf: string; opt: string }

// containerd config version 2 (containerd 1.6's docs/cri/config.md). Every path the daemon would otherwise take
// from the machine (/var/lib/containerd, /run/containerd, /opt/containerd, /etc/cni/net.d, /opt/cni/bin) is
// redirected; the rest of /run is already the anchor's private tmpfs.
function configToml(p: Paths, sandboxImage: string, snapshotter: string): string {
  return `version = 2
root = "${p.root}"
state = "${p.state}"

[grpc]
  address = "${p.socket}"

[ttrpc]
  address = "${p.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${p.opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  # The VM withholds CAP_SYS_RESOURCE, so runc cannot give the sandbox an oom_score_adj below the daemon's own.
  restrict_oom_score_adj = true
  # Pins live in this instance's state dir, not the machine's /run/netns.
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${snapshotter}"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${p.bin}"
    conf_dir = "${p.conf}"
    max_conf_num = 1
`
}

/** overlayfs, unless the temp dir itself is on overlayfs (as in some CI containers), where only native works. */
function snapshotterFor(dir: string): string {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir], { encoding: 'utf8' }).trim() === 'overlay' ? 'native' : 'overlayfs'
  } catch {
    return 'overlayfs'
  }
}

async function criReady(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false
  const client = new CriClient(socket, { timeoutMs: 2000 })
  try {
    await client.listPodSandboxes()
    return true
  } catch {
    return false
  } finally {
    client.close()
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n')
  } catch {
    return '(no log)'
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
