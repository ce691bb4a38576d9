// podman 4.3 with its CNI backend runs containers on tscni (bridge + host-local + portmap under the standard names)
// from an image loaded offline: `podman run -d -p` of a busybox httpd gets an address on the bridge, answers through
// its host port (host address, 127.0.0.1, from a second container) and directly; after `podman rm -f` no veth,
// reservation, host-port rule, cached result or netns is left.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import type { ConfList } from '../support/cni-runtime.ts'
import { busyboxImage } from '../support/oci-image.ts'
import { startPodman, type PrivatePodman } from '../support/podman.ts'
import { ownedLines, ownedPatterns } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let podman: PrivatePodman | undefined
let image: string
// Runs before the test node's own clean-up (after-hooks run last registered first), so the host namespace is
// still there while podman removes its containers.
afterEach(async () => {
  await podman?.cleanup()
  podman = undefined
}, 120_000)
beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-podman-image-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  image = busyboxImage(join(dir, 'busybox.tar')).name
  podman = await startPodman({ host: node.host, binDir: node.bin, conflists: [network(node.dataDir)] })
  await podman.load(join(dir, 'busybox.tar'))
}, 120_000)

const NETWORK = 'tscni-podman'

// podman 4.3's libcni parses results up to spec 1.0.0.
function network(dataDir: string): ConfList {
  return {
    cniVersion: '1.0.0',
    name: NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni-pm0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.89.7.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }
}

function started(): PrivatePodman {
  if (!podman) throw new Error('podman is started before each test')
  return podman
}

/** A fetch with busybox wget from a throwaway container on the network (busybox 1.35's `wget -T` crashes). */
async function fetchFromContainer(url: string): Promise<string> {
  const podman = started()
  const r = await podman.podman(['run', '--rm', '--network', NETWORK, '--cgroup-parent', podman.cgroupParent, image, 'timeout', '5', 'wget', '-q', '-O', '-', url], { reject: false })
  return String(r.stdout).trim()
}

/** A fetch with curl from the host namespace, retried while the server starts ('' when nothing answered). */
async function fetchFromHost(url: string, tries = 30): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const r = await node.host.exec('curl', ['-s', '--max-time', '2', url], { reject: false })
    if (r.exitCode === 0 && String(r.stdout).trim()) return String(r.stdout).trim()
    await new Promise((res) => setTimeout(res, 200))
  }
  return ''
}

it('podman run -d -p: the container answers through its host port and directly; podman rm -f leaves nothing', async () => {
  const podman = started()
  const run = await podman.podman([
    'run', '-d', '--name', 'web', '--network', NETWORK, '-p', '8080:80', '--cgroup-parent', podman.cgroupParent, image,
    'sh', '-c', 'mkdir /www && echo "served-by-$(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www',
  ])
  const id = String(run.stdout).trim()
  expect(id).toMatch(/^[0-9a-f]{64}$/)
  const info = JSON.parse(String((await podman.podman(['inspect', 'web'])).stdout))[0]
  const net = info.NetworkSettings.Networks[NETWORK]
  expect(net.IPAddress).toMatch(/^10\.89\.7\.\d+$/)
  expect(net.Gateway).toBe('10.89.7.1')
  expect(reservations(node.dataDir, NETWORK)).toEqual([net.IPAddress])
  expect(podman.cachedResults()).toEqual([`${NETWORK}-${id}-eth0`])
  expect(podman.netnsMounts()).toHaveLength(1)
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toHaveLength(1)

  const want = `served-by-${id.slice(0, 12)}`
  expect(await fetchFromHost(`http://${net.IPAddress}:80/`)).toBe(want)
  expect(await fetchFromHost('http://10.89.7.1:8080/')).toBe(want)
  expect(await fetchFromHost('http://127.0.0.1:8080/')).toBe(want)
  expect(await fetchFromContainer('http://10.89.7.1:8080/')).toBe(want)
  expect(await fetchFromContainer(`http://${net.IPAddress}:80/`)).toBe(want)
  // The throwaway containers were removed (--rm) and released their addresses.
  expect(reservations(node.dataDir, NETWORK)).toEqual([net.IPAddress])

  const patterns = ownedPatterns({ network: NETWORK, containerId: id, ifname: 'eth0' }, [net.IPAddress])
  expect((await ownedLines(node.host, patterns)).length).toBeGreaterThan(0)
  await podman.podman(['rm', '-f', '-t', '0', 'web'])

  expect(String((await podman.podman(['ps', '-a', '-q'])).stdout).trim()).toBe('')
  expect(await ownedLines(node.host, patterns)).toEqual([])
  expect(reservations(node.dataDir, NETWORK)).toEqual([])
  expect(podman.cachedResults()).toEqual([])
  expect(podman.netnsMounts()).toEqual([])
  expect(await linkNames(node.host)).toEqual(['cni-pm0', 'lo'])
  expect(await fetchFromHost('http://127.0.0.1:8080/', 2)).toBe('')
}, 180_000)
