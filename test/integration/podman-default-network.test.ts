// podman 4.3's own default network on tscni alone: `tscni install --standard-names` into the private podman's only
// plugin dir and no conflist written, so podman's CNI backend generates `podman` in memory (containers/common
// libnetwork/cni/cni_conversion.go: bridge cni-podman0 → portmap → firewall → tuning, cniVersion 0.4.0). Two
// `podman run -d -p` containers answer through their host ports and each other; `podman rm -f` leaves no veth,
// reservation, firewall rule, record or cached result.
import { execa } from 'execa'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { forwardState } from '../support/firewall-role.ts'
import { busyboxImage } from '../support/oci-image.ts'
import { startPodman, type PrivatePodman } from '../support/podman.ts'
import { ownedLines, ownedPatterns } from '../support/portmap.ts'
import { binDir } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let podman: PrivatePodman | undefined
let image: string
let pluginDir: string
afterEach(async () => {
  await podman?.cleanup()
  podman = undefined
}, 120_000)
beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-podman-default-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  pluginDir = join(dir, 'cni-bin')
  const install = await execa(join(binDir(), 'tscni'), ['install', '--bin-dir', pluginDir, '--standard-names'], { reject: false })
  expect(install.exitCode, `${install.stdout}${install.stderr}`).toBe(0)
  image = busyboxImage(join(dir, 'busybox.tar')).name
  podman = await startPodman({ host: node.host, binDir: pluginDir, conflists: [] })
  await podman.load(join(dir, 'busybox.tar'))
}, 120_000)

function started(): PrivatePodman {
  if (!podman) throw new Error('podman is started before each test')
  return podman
}

async function fetchFromHost(url: string, tries = 30): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const r = await node.host.exec('curl', ['-s', '--max-time', '2', url], { reject: false })
    if (r.exitCode === 0 && String(r.stdout).trim()) return String(r.stdout).trim()
    await new Promise((res) => setTimeout(res, 200))
  }
  return ''
}

it("podman's default network with tscni alone: two containers on host ports and each other; podman rm -f leaves nothing", async () => {
  const podman = started()
  // The standard names are all there, firewall and tuning included; nothing else is in the plugin dir.
  expect(readdirSync(pluginDir).sort()).toEqual(expect.arrayContaining(['bridge', 'firewall', 'host-local', 'portmap', 'tuning', 'tscni']))
  const networks = JSON.parse(String((await podman.podman(['network', 'inspect', 'podman'])).stdout))
  expect(networks[0].driver).toBe('bridge')
  expect(readdirSync(podman.confDir).filter((f) => f.endsWith('.conflist'))).toEqual([])

  const ids: string[] = []
  for (const [name, port] of [['web1', 8081], ['web2', 8082]] as const) {
    const run = await podman.podman([
      'run', '-d', '--name', name, '-p', `${port}:80`, '--cgroup-parent', podman.cgroupParent, image,
      'sh', '-c', 'mkdir /www && echo "served-by-$(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www',
    ])
    ids.push(String(run.stdout).trim())
  }
  const ipOf = async (name: string) => JSON.parse(String((await podman.podman(['inspect', name])).stdout))[0].NetworkSettings.Networks.podman.IPAddress as string
  const ips = [await ipOf('web1'), await ipOf('web2')]
  for (const ip of ips) expect(ip).toMatch(/^10\.88\.\d+\.\d+$/)
  const dataDir = join(podman.cniCacheDir, 'networks')
  expect(reservations(dataDir, 'podman').sort()).toEqual([...ips].sort())
  // The firewall plugin ran in the chain: each container's accept rules are in place.
  const state = (await forwardState(node.host)).join('\n')
  for (const ip of ips) expect(state).toContain(`-s ${ip}/32 -j ACCEPT`)

  const want = ids.map((id) => `served-by-${id.slice(0, 12)}`)
  expect(await fetchFromHost('http://10.88.0.1:8081/')).toBe(want[0])
  expect(await fetchFromHost('http://127.0.0.1:8082/')).toBe(want[1])
  const across = await podman.podman(['exec', 'web1', '/bin/busybox', 'wget', '-q', '-O', '-', `http://${ips[1]}:80/`], { reject: false })
  expect(String(across.stdout).trim(), `${across.stderr}`).toBe(want[1])
  const hairpin = await podman.podman(['exec', 'web2', '/bin/busybox', 'wget', '-q', '-O', '-', 'http://10.88.0.1:8081/'], { reject: false })
  expect(String(hairpin.stdout).trim()).toBe(want[0])

  await podman.podman(['rm', '-f', '-t', '0', 'web1', 'web2'])
  expect(String((await podman.podman(['ps', '-a', '-q'])).stdout).trim()).toBe('')
  for (const [i, id] of ids.entries()) {
    expect(await ownedLines(node.host, ownedPatterns({ network: 'podman', containerId: id, ifname: 'eth0' }, [ips[i]!]))).toEqual([])
  }
  expect(await forwardState(node.host)).toEqual([])
  expect(reservations(dataDir, 'podman')).toEqual([])
  const records = join(podman.cniCacheDir, '..', 'tscni', 'attachments')
  expect(existsSync(records) ? readdirSync(records) : []).toEqual([])
  expect(podman.cachedResults()).toEqual([])
  expect(podman.netnsMounts()).toEqual([])
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toEqual([])
}, 240_000)
