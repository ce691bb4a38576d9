// A Kubernetes node's network path end to end: a CRI client calling a private containerd 1.6 as kubelet does, its
// CRI plugin running tscni alone (bridge, host-local, portmap, loopback) from the installed bin dir.
import { execa } from 'execa'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { dnatChain, masqChain } from '../../src/firewall/iptables-rules.ts'
import { firewallText } from '../support/bridge.ts'
import { startContainerd, type PrivateContainerd } from '../support/containerd.ts'
import { CriClient, type PodSandboxConfig, type PortMapping } from '../support/cri-client.ts'
import { NetnsPool, type TestNetns } from '../support/netns.ts'
import { busyboxImage, pauseImage } from '../support/oci-image.ts'
import { binDir } from '../support/run-plugin.ts'

const NETWORK = 'tscni-k8s'
const BRIDGE = 'cni0'
const SUBNET = '10.88.0.0/24'
const NODE_IP = '10.88.0.1'
const HTTP_PORT = 8080
const HOST_PORT = 18080
const PAUSE = 'localhost/tscni-test/pause:1'
const BUSYBOX = 'localhost/tscni-test/busybox:1'

// What a node's administrator puts into /etc/cni/net.d. cniVersion 1.0.0 is the newest the libcni of containerd
// 1.6 speaks; the firewall backends are pinned so the leftover check knows where to look.
const conflist = ({ dataDir }: { dataDir: string }) => ({
  cniVersion: '1.0.0',
  name: NETWORK,
  plugins: [
    {
      type: 'bridge',
      bridge: BRIDGE,
      isGateway: true,
      ipMasq: true,
      ipMasqBackend: 'iptables',
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
    },
    { type: 'portmap', capabilities: { portMappings: true }, backend: 'iptables' },
  ],
})

/** A pod's network namespace, entered through its sandbox process (the pins live in containerd's mount namespace). */
function podNetns(pid: number): TestNetns {
  const path = `/proc/${pid}/ns/net`
  const exec: TestNetns['exec'] = (cmd, args, options = {}) =>
    execa('nsenter', [`--net=${path}`, cmd, ...args], { input: options.input, reject: options.reject ?? true, timeout: options.timeout ?? 30_000 })
  return { name: `pod-${pid}`, path, exec, ipJson: async (args) => JSON.parse(String((await exec('ip', ['-j', ...args])).stdout) || '[]') }
}

/** What an HTTP GET from `ns` returned ('' when nothing answered within a few tries). */
async function httpGet(ns: TestNetns, url: string, tries = 10): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const res = await ns.exec('curl', ['-sf', '--max-time', '2', url], { reject: false })
    if (res.exitCode === 0) return String(res.stdout).trim()
    await new Promise((r) => setTimeout(r, 200))
  }
  return ''
}

describe('a Kubernetes node: containerd 1.6 CRI running tscni as its only CNI plugins', () => {
  const pool = new NetnsPool()
  let host: TestNetns
  let ctd: PrivateContainerd
  let cri: CriClient
  /** Sandboxes of the current test, removed after it whatever happened. */
  const sandboxes: string[] = []

  beforeAll(async () => {
    host = await pool.create('tscni-k8s')
    ctd = await startContainerd({ host, tscni: join(binDir(), 'tscni'), conflist, sandboxImage: PAUSE })
    pauseImage(join(ctd.dir, 'pause.tar'), PAUSE)
    busyboxImage(join(ctd.dir, 'busybox.tar'), BUSYBOX)
    await ctd.importImage(join(ctd.dir, 'pause.tar'))
    await ctd.importImage(join(ctd.dir, 'busybox.tar'))
    cri = new CriClient(ctd.socket)
  }, 120_000)

  afterEach(async () => {
    for (const id of sandboxes.splice(0)) {
      await cri.stopPodSandbox(id).catch(() => undefined)
      await cri.removePodSandbox(id).catch(() => undefined)
    }
  })

  afterAll(async () => {
    cri?.close()
    await ctd?.cleanup()
    await pool.cleanup()
  })

  const podConfig = (name: string, portMappings: PortMapping[] = []): PodSandboxConfig => ({
    metadata: { name, uid: `uid-${name}-${Date.now()}`, namespace: 'default', attempt: 0 },
    hostname: name,
    logDirectory: join(ctd.dir, 'pods', name),
    portMappings,
    labels: { app: name },
    linux: { cgroupParent: ctd.cgroupParent },
  })

  /** Runs a pod as kubelet does and returns its id, address and sandbox process. */
  async function runPod(name: string, portMappings: PortMapping[] = []) {
    const config = podConfig(name, portMappings)
    const id = await cri.runPodSandbox(config)
    sandboxes.push(id)
    const status = await cri.podSandboxStatus(id)
    expect(status.state).toBe('SANDBOX_READY')
    return { id, config, ip: status.network?.ip ?? '', pid: await cri.sandboxPid(id) }
  }

  /** Starts busybox httpd in the pod, serving /etc (so GET /hostname names the pod). */
  async function serveHttp(pod: { id: string; config: PodSandboxConfig }): Promise<string> {
    const cid = await cri.createContainer(pod.id, {
      metadata: { name: 'httpd' },
      image: { image: BUSYBOX },
      command: ['/bin/busybox'],
      args: ['httpd', '-f', '-p', String(HTTP_PORT), '-h', '/etc'],
      logPath: 'httpd.log',
    }, pod.config)
    await cri.startContainer(cid)
    expect((await cri.containerStatus(cid)).state).toBe('CONTAINER_RUNNING')
    return cid
  }

  /** Tears a pod down as kubelet does: StopPodSandbox (retried, so more than once) and RemovePodSandbox. */
  async function removePod(id: string, stops = 2): Promise<void> {
    for (let i = 0; i < stops; i++) await cri.stopPodSandbox(id)
    await cri.removePodSandbox(id)
    sandboxes.splice(sandboxes.indexOf(id), 1)
    expect(await cri.listPodSandboxes()).not.toContain(id)
  }

  /** Nothing of the pod is left: veth, reservation, cached result, netns pin, firewall rule. */
  async function expectNothingLeft(id: string, ip: string): Promise<void> {
    const links = await host.ipJson<Array<{ ifname: string; linkinfo?: { info_kind?: string } }>>(['-d', 'link', 'show'])
    expect(links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname)).toEqual([])
    const reserved = readdirSafe(join(ctd.dataDir, NETWORK)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
    expect(reserved).toEqual([])
    expect(readdirSafe(join(ctd.cniCacheDir, 'results')).filter((f) => f.includes(id))).toEqual([])
    expect(readdirSafe(ctd.netnsPinDir)).toEqual([])
    expect(ctd.pinnedNetns()).toEqual([])
    const fw = await firewallText(host)
    const owner = { network: NETWORK, containerId: id, ifname: 'eth0' }
    for (const needle of [id, masqChain(owner), dnatChain(owner), `${ip}/`, ` ${ip} `]) expect(fw).not.toContain(needle)
  }

  it('answers the CRI version call (runtime.v1)', async () => {
    const v = await cri.version()
    expect(v.runtimeName).toBe('containerd')
    expect(v.runtimeApiVersion).toBe('v1')
    expect(v.runtimeVersion).toMatch(/^v?1\.6\./)
  })

  it('gives two pods distinct addresses, reachable from the node and from each other; removes them without a trace', async () => {
    const a = await runPod('pod-a')
    const b = await runPod('pod-b')
    expect(a.ip).toMatch(/^10\.88\.0\.\d+$/)
    expect(b.ip).toMatch(/^10\.88\.0\.\d+$/)
    expect(a.ip).not.toBe(b.ip)
    // Each pod's eth0 holds exactly the address the CRI reports, and lo is up (the loopback plugin's work).
    for (const p of [a, b]) {
      const addrs = await podNetns(p.pid).ipJson<Array<{ ifname: string; operstate: string; flags: string[]; addr_info: Array<{ local: string }> }>>(['addr', 'show'])
      expect(addrs.find((l) => l.ifname === 'eth0')?.addr_info.map((x) => x.local)).toContain(p.ip)
      expect(addrs.find((l) => l.ifname === 'lo')?.flags).toContain('UP')
    }
    // tscni served every plugin of the pod's ADD, loopback included (only tscni writes this log).
    expect(pluginCalls(ctd.pluginLog, a.id, 'ADD').map((c) => `${c.role}:${c.outcome}`).sort()).toEqual(['bridge:ok', 'loopback:ok', 'portmap:ok'])
    await serveHttp(a)
    await serveHttp(b)
    expect(await httpGet(host, `http://${a.ip}:${HTTP_PORT}/hostname`)).toBe('pod-a')
    expect(await httpGet(host, `http://${b.ip}:${HTTP_PORT}/hostname`)).toBe('pod-b')
    expect(await httpGet(podNetns(b.pid), `http://${a.ip}:${HTTP_PORT}/hostname`)).toBe('pod-a')
    expect(await httpGet(podNetns(a.pid), `http://${b.ip}:${HTTP_PORT}/hostname`)).toBe('pod-b')

    await removePod(a.id)
    await removePod(b.id)
    await expectNothingLeft(a.id, a.ip)
    await expectNothingLeft(b.id, b.ip)
  })

  it('publishes a hostPort through the node\'s bridge address, 127.0.0.1 and to another pod', async () => {
    const web = await runPod('web', [{ protocol: 'TCP', containerPort: HTTP_PORT, hostPort: HOST_PORT }])
    const client = await runPod('client')
    await serveHttp(web)
    expect(await httpGet(host, `http://${NODE_IP}:${HOST_PORT}/hostname`)).toBe('web')
    expect(await httpGet(host, `http://127.0.0.1:${HOST_PORT}/hostname`)).toBe('web')
    expect(await httpGet(podNetns(client.pid), `http://${NODE_IP}:${HOST_PORT}/hostname`)).toBe('web')

    await removePod(web.id)
    await removePod(client.id)
    await expectNothingLeft(web.id, web.ip)
    expect(await httpGet(host, `http://127.0.0.1:${HOST_PORT}/hostname`, 1)).toBe('')
  })

  it('keeps a pod\'s network across a containerd restart, then removes it', async () => {
    const pod = await runPod('survivor')
    await serveHttp(pod)
    await ctd.restart()
    const status = await cri.podSandboxStatus(pod.id)
    expect(status.state).toBe('SANDBOX_READY')
    expect(status.network?.ip).toBe(pod.ip)
    expect(await httpGet(host, `http://${pod.ip}:${HTTP_PORT}/hostname`)).toBe('survivor')

    await removePod(pod.id)
    await expectNothingLeft(pod.id, pod.ip)
  })

  it('removes a pod whose sandbox process was killed (later DELs come with an empty CNI_NETNS)', async () => {
    const pod = await runPod('orphan')
    const delsBefore = pluginCalls(ctd.pluginLog, pod.id, 'DEL').length
    process.kill(pod.pid, 'SIGKILL')
    // containerd notices the exit and reports the sandbox not ready.
    const until = Date.now() + 20_000
    while ((await cri.podSandboxStatus(pod.id)).state !== 'SANDBOX_NOTREADY') {
      if (Date.now() > until) throw new Error('containerd never noticed the killed sandbox process')
      await new Promise((r) => setTimeout(r, 200))
    }
    await removePod(pod.id, 3)
    await expectNothingLeft(pod.id, pod.ip)
    // Every DEL the runtime made succeeded, and it made several (one per stop, again on remove).
    const dels = pluginCalls(ctd.pluginLog, pod.id, 'DEL').slice(delsBefore)
    // containerd 1.6 tears the network down on every StopPodSandbox (and once more on removal): loopback, portmap,
    // bridge each time; after the first, the pin is gone and CNI_NETNS is empty.
    for (const role of ['loopback', 'portmap', 'bridge']) expect(dels.filter((d) => d.role === role).length).toBeGreaterThanOrEqual(3)
    expect(dels.filter((d) => d.outcome !== 'ok')).toEqual([])
  })
})

/** tscni's invocation-log lines for a container and verb. */
function pluginCalls(file: string, containerId: string, verb: string): Array<{ role: string; outcome: string }> {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.containerId === containerId && l.verb === verb)
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
