// The cluster DaemonSet's node agent as the manifest runs it, in the private containerd: the release image, the
// manifest's command, host network, a read-only root file system, every capability dropped but NET_ADMIN and
// NET_RAW, and only the manifest's mounts. It leases a subnet in a real etcd (TLS), programs the route to the
// other node, writes the conflist, and /readyz answers 200 — so those capabilities and paths are enough.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeAll, expect, it } from 'vitest'
import {
  makeCerts, makeNode, makeSegment, nodeArgs, readNodeState, removeNodeDir, startAgent, startEtcd, taggedRoutes, waitUntil, etcdArgs,
} from '../support/cluster.ts'
import { startContainerd, type PrivateContainerd } from '../support/containerd.ts'
import { NetnsPool } from '../support/netns.ts'
import { release, type Release } from '../support/release.ts'

const pool = new NetnsPool()
const cleanups: Array<() => Promise<unknown> | unknown> = []
let rel: Release
beforeAll(() => {
  rel = release()
}, 600_000)
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => undefined)
  await pool.cleanup()
}, 120_000)

// containerd's default capability set (oci.defaultUnixCaps), less CAP_NET_RAW.
const DEFAULT_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE']
// CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13 (linux/capability.h).
const NET_ADMIN_AND_RAW = (1n << 12n) | (1n << 13n)

/** The node-agent container's command, env names and mount paths from deploy/cluster/daemonset.yaml. */
function manifestAgent(): { command: string[]; mounts: string[] } {
  const yaml = readFileSync('deploy/cluster/daemonset.yaml', 'utf8')
  const block = yaml.slice(yaml.indexOf('- name: node-agent'), yaml.indexOf('      volumes:'))
  const cmd = block.slice(block.indexOf('command:') + 'command:'.length, block.indexOf('env:'))
  const command = [...cmd.matchAll(/^ +- (\S+)$/gm)].map((m) => m[1]!)
  const mounts = [...block.matchAll(/mountPath: ([^,}\s]+)/g)].map((m) => m[1]!)
  return { command, mounts }
}

it('runs from the image with the manifest\'s command, capabilities and mounts, and gets ready', { timeout: 115_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-deploy-agent-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const { segment } = await makeSegment(pool)
  const certs = await makeCerts(dir)
  const etcd = await startEtcd(segment, dir, certs)
  cleanups.push(() => etcd.stop())
  const [n1, n2] = [await makeNode(pool, segment, 1), await makeNode(pool, segment, 2)]
  for (const n of [n1, n2]) cleanups.push(() => removeNodeDir(n))
  const config = JSON.stringify({ Network: '10.77.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } })
  // Node 2: the agent straight from dist/, as the peer.
  const peer = startAgent(n2, [...etcdArgs(etcd, certs), ...nodeArgs(n2, ['--init-config', config])])
  cleanups.push(() => peer.stop())
  const peerSubnet = await waitUntil('node 2 to lease a subnet', 20_000, () => readNodeState(n2)?.subnet as string | undefined, () => peer.log())

  // Node 1: what kubeadm's preflight guarantees on a node (the container cannot change /proc/sys).
  await n1.ns.exec('sysctl', ['-w', 'net.ipv4.ip_forward=1'])
  const containerd: PrivateContainerd = await startContainerd({
    host: n1.ns, tscni: resolve('dist/tscni'), conflist: () => ({ cniVersion: '1.0.0', name: 'unused', plugins: [{ type: 'loopback' }] }), sandboxImage: 'localhost/tscni-test/pause:1',
  })
  cleanups.push(() => containerd.cleanup())
  const ctr = (args: readonly string[], opts = {}) => containerd.spawn('ctr', ['--address', containerd.socket, '--namespace', 'tscni-deploy', ...args], opts)
  await ctr(['images', 'import', rel.image])

  const { command, mounts } = manifestAgent()
  expect(command.slice(0, 3)).toEqual(['/usr/local/bin/tscni', 'node', 'run'])
  expect(mounts.sort()).toEqual(['/etc/cni/net.d', '/etc/tscni/etcd', '/run/xtables.lock', '/var/lib/tscni/node'])
  const secret = join(dir, 'secret')
  mkdirSync(secret)
  copyFileSync(certs.ca, join(secret, 'ca.crt'))
  copyFileSync(certs.clientCert, join(secret, 'tls.crt'))
  copyFileSync(certs.clientKey, join(secret, 'tls.key'))
  const lock = join(dir, 'xtables.lock')
  writeFileSync(lock, '')
  const sources: Record<string, string> = { '/etc/cni/net.d': n1.confDir, '/var/lib/tscni/node': n1.stateDir, '/run/xtables.lock': lock, '/etc/tscni/etcd': secret }
  mkdirSync(n1.confDir, { recursive: true })
  mkdirSync(n1.stateDir, { recursive: true })
  const args = command.map((a) => a.replace('$(INIT_CONFIG)', config))
  let out = ''
  const agent: ResultPromise = ctr([
    'run', '--rm', '--net-host', '--read-only', '--cgroup', `${containerd.cgroupParent}/agent`,
    // ctr takes no "ALL": drop each of its default set but NET_RAW, add NET_ADMIN; the task's CapEff is checked below.
    ...DEFAULT_CAPS.flatMap((c) => ['--cap-drop', c]), '--cap-add', 'CAP_NET_ADMIN',
    '--env', `TSCNI_ETCD_ENDPOINTS=${etcd.endpoint}`,
    ...mounts.flatMap((m) => ['--mount', `type=bind,src=${sources[m]},dst=${m},options=rbind:${m === '/etc/tscni/etcd' ? 'ro' : 'rw'}`]),
    rel.imageName, 'agent', ...args, '--iface', 'eth0', '--ttl', '5', '--resync', '2',
  ], { reject: false, all: true, timeout: 110_000 })
  agent.all?.on('data', (b: Buffer) => { out = (out + b.toString()).slice(-20_000) })
  cleanups.push(async () => {
    await ctr(['task', 'kill', '--signal', 'SIGKILL', 'agent'], { reject: false })
    await agent
  })

  const readyz = async () => {
    const r = await n1.ns.exec('curl', ['-s', '--max-time', '2', '-w', '\n%{http_code}', 'http://127.0.0.1:9099/readyz'], { reject: false })
    return Number(String(r.stdout).split('\n').pop())
  }
  await waitUntil('the containerised agent to be ready', 60_000, async () => (await readyz()) === 200, () => `${out}\n--- peer ---\n${peer.log()}`)
  expect((await taggedRoutes(n1.ns)).join('\n')).toContain(`${peerSubnet} via`)
  expect(existsSync(join(n1.confDir, '10-tscni-cluster.conflist'))).toBe(true)
  const list = JSON.parse(readFileSync(join(n1.confDir, '10-tscni-cluster.conflist'), 'utf8'))
  expect(list.plugins[0].readinessFile).toBe('/var/lib/tscni/node/ready')
  expect(existsSync(join(n1.stateDir, 'ready'))).toBe(true)
  const links = await n1.ns.ipJson<Array<{ ifname: string }>>(['link', 'show'])
  expect(links.map((l) => l.ifname)).toContain('tscni.1')
  expect(out).not.toMatch(/EPERM|EACCES|permission denied|read-only file system/i)
  // The agent held exactly those two capabilities, with a read-only root.
  const tasks = String((await ctr(['task', 'ls'])).stdout)
  const pid = /^agent\s+(\d+)\s+RUNNING/m.exec(tasks)?.[1]
  expect(pid, tasks).toBeDefined()
  const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`)
  expect(capEff.toString(16)).toBe(NET_ADMIN_AND_RAW.toString(16))
  expect(readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')).toMatch(/ ro[, ]/)
})
