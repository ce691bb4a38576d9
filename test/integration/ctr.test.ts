// `ctr run --cni` (containerd 1.6's client, which runs the CNI plugins itself through go-cni with the fixed paths
// /etc/cni/net.d and /opt/cni/bin) on tscni under the standard names, with a private containerd: the container gets
// an address on the bridge and answers; after `ctr task kill` the exiting `ctr run --rm` DELs with an empty netns
// (the task's namespace is gone) and removes the container, and no veth, reservation, rule or cached result is left.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { startContainerd, type PrivateContainerd } from '../support/containerd.ts'
import { busyboxImage } from '../support/oci-image.ts'
import { ownedLines, ownedPatterns } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const NETWORK = 'tscni-ctr'
const NS = 'tscni-ctr'
let containerd: PrivateContainerd | undefined
let image: string
let running: ResultPromise | undefined

// After-hooks run last registered first: this one runs before the test node removes the host namespace.
afterEach(async () => {
  running?.kill('SIGKILL')
  await running?.catch(() => undefined)
  running = undefined
  await containerd?.cleanup()
  containerd = undefined
}, 120_000)

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-ctr-image-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  image = busyboxImage(join(dir, 'busybox.tar')).name
  containerd = await startContainerd({
    host: node.host,
    tscni: resolve('dist/tscni'),
    conflist: ({ dataDir }) => ({
      cniVersion: '1.0.0',
      name: NETWORK,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni-ctr0',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.90.3.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        // ctr sends no port mappings: portmap must take the empty case in its stride on ADD and DEL.
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
    sandboxImage: 'localhost/tscni-test/pause:1',
    cniAtDefaultPaths: true,
  })
  await ctr(['images', 'import', join(dir, 'busybox.tar')])
}, 120_000)

function started(): PrivateContainerd {
  if (!containerd) throw new Error('containerd is started before each test')
  return containerd
}

/** `ctr -n tscni-ctr ...` against the private containerd; its stdout. */
async function ctr(args: readonly string[]): Promise<string> {
  const c = started()
  return String((await c.spawn('ctr', ['--address', c.socket, '--namespace', NS, ...args])).stdout)
}

async function fetchFromHost(url: string): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const r = await node.host.exec('curl', ['-s', '--max-time', '2', url], { reject: false })
    if (r.exitCode === 0 && String(r.stdout).trim()) return String(r.stdout).trim()
    await new Promise((res) => setTimeout(res, 200))
  }
  return ''
}

it('ctr run --cni: the container gets an address and answers; after ctr task kill, ctr DELs with an empty netns and nothing is left', async () => {
  const c = started()
  // ctr names the attachment <namespace>-<container id> and runs the plugins itself, in the host namespace.
  const containerId = `${NS}-web`
  running = c.spawn('ctr', [
    '--address', c.socket, '--namespace', NS, 'run', '--cni', '--rm', '--cgroup', `${c.cgroupParent}/web`, image, 'web',
    'sh', '-c', 'mkdir /www && echo served-by-ctr > /www/index.html && exec httpd -f -p 80 -h /www',
  ], { reject: false, env: { TSCNI_LOG_FILE: c.pluginLog }, timeout: 120_000 })

  let pid = ''
  for (let i = 0; i < 100 && !pid; i++) {
    const tasks = await ctr(['task', 'ls']).catch(() => '')
    pid = /^web\s+(\d+)\s+RUNNING/m.exec(tasks)?.[1] ?? ''
    if (!pid) await new Promise((r) => setTimeout(r, 100))
  }
  expect(pid, 'the task runs').not.toBe('')

  let addr = ''
  for (let i = 0; i < 100 && !addr; i++) {
    addr = reservations(c.dataDir, NETWORK)[0] ?? ''
    if (!addr) await new Promise((r) => setTimeout(r, 100))
  }
  expect(addr).toMatch(/^10\.90\.3\.\d+$/)
  const inContainer = await node.host.exec('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0'])
  const local = JSON.parse(String(inContainer.stdout))[0].addr_info.filter((a: { family: string }) => a.family === 'inet').map((a: { local: string }) => a.local)
  expect(local).toEqual([addr])
  expect(await fetchFromHost(`http://${addr}/`)).toBe('served-by-ctr')
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toHaveLength(1)
  const results = join(c.cniCacheDir, 'results')
  const cached = () => (existsSync(results) ? readdirSync(results) : [])
  expect(cached()).toEqual([`${NETWORK}-${containerId}-eth0`])
  const patterns = ownedPatterns({ network: NETWORK, containerId, ifname: 'eth0' }, [addr])
  expect((await ownedLines(node.host, patterns)).length).toBeGreaterThan(0)

  await ctr(['task', 'kill', '--signal', 'SIGKILL', 'web'])
  const exit = await running
  running = undefined
  // The task was killed (137); ctr still tears the network down and removes the container on its way out.
  expect(exit.exitCode, String(exit.stderr)).toBe(137)
  expect(String(exit.stderr)).not.toMatch(/network review|level=error/)

  expect(await ctr(['container', 'ls', '-q'])).toBe('')
  expect(reservations(c.dataDir, NETWORK)).toEqual([])
  expect(cached()).toEqual([])
  expect(await ownedLines(node.host, patterns)).toEqual([])
  expect(await linkNames(node.host)).toEqual(['cni-ctr0', 'lo'])
  const calls = readFileSync(c.pluginLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { role: string; verb: string; containerId: string; outcome: string })
  expect(calls.map((l) => `${l.verb} ${l.role} ${l.containerId} ${l.outcome}`)).toEqual([
    `ADD bridge ${containerId} ok`,
    `ADD portmap ${containerId} ok`,
    `DEL portmap ${containerId} ok`,
    `DEL bridge ${containerId} ok`,
  ])
}, 180_000)
