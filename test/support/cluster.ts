// A simulated cluster for node-agent integration tests: a "segment" namespace with a bridge every node's uplink
// is plugged into, etcd listening there (TLS with certificates made here by openssl), an "internet" namespace on
// the segment, and nodes (each a namespace running `tscni node run`, with pods from the CNI config it writes).
import { execa, type ResultPromise } from 'execa'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bridgeOk } from './bridge.ts'
import type { NetnsPool, TestNetns } from './netns.ts'
import { binDir } from './run-plugin.ts'

export const SEGMENT = '192.168.77'
export const ETCD_IP = `${SEGMENT}.2`
export const INTERNET_IP = `${SEGMENT}.100`
export const PREFIX = '/tscni/network'
/** The segment bridge's MAC (locally administered). */
export const SEGMENT_MAC = '02:77:00:00:00:02'

/** Files of a throwaway certificate authority: etcd's server certificate and a client certificate. */
export interface Certs {
  readonly ca: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
}

/** Makes a CA, a server certificate for etcd's address and a client certificate (ECDSA P-256, valid one day). */
export async function makeCerts(dir: string): Promise<Certs> {
  const p = (f: string) => join(dir, f)
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await execa('openssl', ['req', '-x509', ...key, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', '/CN=tscni-test-ca', '-days', '1'])
  // etcd 3.4's JSON gateway dials etcd's own gRPC server presenting the server certificate as a client
  // certificate, so with --client-cert-auth that certificate must also allow client authentication.
  for (const [name, ext] of [['server', `subjectAltName=IP:${ETCD_IP}\nextendedKeyUsage=serverAuth,clientAuth\n`], ['client', 'extendedKeyUsage=clientAuth\n']] as const) {
    writeFileSync(p(`${name}.ext`), ext)
    await execa('openssl', ['req', ...key, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=tscni-test-${name}`])
    await execa('openssl', ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.crt`), '-days', '1', '-extfile', p(`${name}.ext`)])
  }
  return { ca: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') }
}

/** A running private etcd. */
export interface Etcd {
  readonly endpoint: string
  /** etcdctl inside the segment namespace, with the client certificate (`input`: stdin, e.g. a large value). */
  ctl(args: readonly string[], input?: string): Promise<string>
  stop(): Promise<void>
  start(): Promise<void>
}

/** Starts etcd in the segment namespace on ETCD_IP (TLS, client certificates required); its data dir survives stop/start. */
export async function startEtcd(segment: TestNetns, dir: string, certs: Certs): Promise<Etcd> {
  const endpoint = `https://${ETCD_IP}:2379`
  let proc: ResultPromise | undefined
  let log = ''
  const tlsCtl = ['--endpoints', endpoint, '--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey]
  const ctl = async (args: readonly string[], input?: string) => String((await execa('ip', ['netns', 'exec', segment.name, 'etcdctl', ...tlsCtl, ...args], { env: { ETCDCTL_API: '3' }, ...(input === undefined ? {} : { input }) })).stdout)
  const start = async () => {
    proc = execa('ip', ['netns', 'exec', segment.name, 'etcd', '--name', 't', '--data-dir', join(dir, 'etcd-data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 't=http://127.0.0.1:2380',
      '--client-cert-auth', '--trusted-ca-file', certs.ca, '--cert-file', certs.serverCert, '--key-file', certs.serverKey], { reject: false, all: true })
    proc.all?.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-20_000) })
    for (let i = 0; i < 100; i++) {
      const res = await execa('ip', ['netns', 'exec', segment.name, 'etcdctl', ...tlsCtl, 'endpoint', 'health'], { env: { ETCDCTL_API: '3' }, reject: false })
      if (res.exitCode === 0) return
      if (proc.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`etcd did not become healthy:\n${log}`)
  }
  const stop = async () => {
    if (!proc) return
    proc.kill('SIGTERM')
    await proc
    proc = undefined
  }
  await start()
  return { endpoint, ctl, stop, start }
}

/** One running `tscni node run`. */
export interface Agent {
  /** What the agent printed so far (its last 50,000 characters, for failure messages). */
  log(): string
  /** How many bytes the agent printed in all. */
  logBytes(): number
  /** The agent's process ID (`ip netns exec` execs it). */
  readonly pid: number | undefined
  /** Its exit code once it exited by itself (or was stopped); undefined while it runs. */
  exitCode(): number | undefined
  /** SIGTERM, then wait for it to exit; its exit code. */
  stop(): Promise<number | undefined>
}

/** One simulated node. */
export interface SimNode {
  readonly ns: TestNetns
  readonly ip: string
  readonly dir: string
  readonly stateDir: string
  readonly confDir: string
  readonly dataDir: string
  agent?: Agent
}

/** Makes the segment namespace (bridge seg0 with ETCD_IP) and the "internet" namespace on it. */
export async function makeSegment(pool: NetnsPool): Promise<{ segment: TestNetns; internet: TestNetns }> {
  const segment = await pool.create('tscni-seg')
  // A fixed MAC: a bridge without one takes the lowest MAC of its ports and changes it when a port with a lower
  // one joins. A node that resolved etcd's address before a later node's port joined then kept the old MAC (its
  // entry stays REACHABLE for up to ~45 s, base_reachable_time) and its frames reached the bridge as another host's,
  // so every connection attempt hung in SYN-SENT: the cluster demo's "node 1 never joins" flake.
  await segment.exec('ip', ['link', 'add', 'seg0', 'address', SEGMENT_MAC, 'type', 'bridge'])
  await segment.exec('ip', ['addr', 'add', `${ETCD_IP}/24`, 'dev', 'seg0'])
  await segment.exec('ip', ['link', 'set', 'seg0', 'up'])
  const internet = await pool.create('tscni-inet')
  await plug(segment, internet, 'inet', `${INTERNET_IP}/24`)
  return { segment, internet }
}

async function plug(segment: TestNetns, ns: TestNetns, port: string, cidr: string): Promise<void> {
  await segment.exec('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.path])
  await segment.exec('ip', ['link', 'set', port, 'master', 'seg0', 'up'])
  await ns.exec('ip', ['addr', 'add', cidr, 'dev', 'eth0'])
  await ns.exec('ip', ['link', 'set', 'eth0', 'up'])
}

/** Makes node `n` (1-based) at SEGMENT.10+n, with its own state, CNI conf and IPAM data dirs. */
export async function makeNode(pool: NetnsPool, segment: TestNetns, n: number): Promise<SimNode> {
  const ns = await pool.create(`tscni-n${n}`)
  const ip = `${SEGMENT}.${10 + n}`
  await plug(segment, ns, `up${n}`, `${ip}/24`)
  const dir = mkdtempSync(join(tmpdir(), `tscni-node${n}-`))
  return { ns, ip, dir, stateDir: join(dir, 'state'), confDir: join(dir, 'net.d'), dataDir: join(dir, 'ipam') }
}

/** Removes a node's directory. */
export function removeNodeDir(node: SimNode): void {
  rmSync(node.dir, { recursive: true, force: true })
}

/** The tscni executable in a bin dir (by default the one the tests run). */
export function tscni(bin: string = binDir()): string {
  return join(bin, 'tscni')
}

/** The common arguments of node commands for a node. */
export function nodeArgs(node: SimNode, extra: readonly string[] = []): string[] {
  return ['--iface', 'eth0', '--state-dir', node.stateDir, '--cni-conf-dir', node.confDir, '--ipam-data-dir', node.dataDir, ...extra]
}

/** The etcd arguments (TLS with the client certificate). */
export function etcdArgs(etcd: Etcd, certs: Certs): string[] {
  return ['--etcd-endpoints', etcd.endpoint, '--etcd-cafile', certs.ca, '--etcd-certfile', certs.clientCert, '--etcd-keyfile', certs.clientKey]
}

/** Starts `tscni node run` in the node's namespace. */
export function startAgent(node: SimNode, args: readonly string[], bin: string = binDir()): Agent {
  let out = ''
  let bytes = 0
  let exit: number | undefined
  const proc = execa('ip', ['netns', 'exec', node.ns.name, tscni(bin), 'node', 'run', ...args], { reject: false, all: true, env: { TSCNI_LOG_LEVEL: process.env.TSCNI_LOG_LEVEL ?? 'info' } })
  proc.all?.on('data', (b: Buffer) => {
    bytes += b.length
    out = (out + b.toString()).slice(-50_000)
  })
  void proc.then((res) => { exit = res.exitCode ?? -1 })
  const agent: Agent = {
    log: () => out,
    logBytes: () => bytes,
    pid: proc.pid,
    exitCode: () => exit,
    async stop() {
      proc.kill('SIGTERM')
      const res = await proc
      return res.exitCode
    },
  }
  node.agent = agent
  return agent
}

/** Runs a node command (status, clean, static run) in the node's namespace. */
export function nodeCommand(node: SimNode, args: readonly string[], bin: string = binDir()) {
  return execa('ip', ['netns', 'exec', node.ns.name, tscni(bin), 'node', ...args], { reject: false, env: { TSCNI_LOG_LEVEL: 'info' } })
}

/** The node's state file, or undefined. */
export function readNodeState(node: SimNode): any {
  const path = join(node.stateDir, 'state.json')
  if (!existsSync(path)) return undefined
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * What a node still lacks to have `peers` peers programmed, for a readiness wait that gives up: its state file,
 * the peers it lists, the tagged routes in its kernel, and the agent's last log lines.
 */
export async function describeReadiness(node: SimNode, peers: number): Promise<string> {
  const state = readNodeState(node)
  const routes = await taggedRoutes(node.ns).catch((err: unknown) => [`(cannot list routes: ${String(err)})`])
  const have = state === undefined
    ? 'no state file yet (no subnet leased, no reconcile done)'
    : `subnet ${state.subnet}, ${state.peers?.length ?? 0} of ${peers} peer(s) in its state (${(state.peers ?? []).map((p: { subnet: string }) => p.subnet).join(', ') || 'none'})`
  const tail = (node.agent?.log() ?? '').trim().split('\n').slice(-8).map((l) => `      | ${l}`).join('\n')
  return `  ${node.ip}: ${have}; ${routes.length} of ${peers} tagged route(s) in its kernel${routes.length ? ` (${routes.join('; ')})` : ''}\n    agent's last lines:\n${tail || '      | (nothing)'}`
}

/** Polls until `check` returns a value other than undefined/false, or fails naming `what` after `ms`. */
export async function waitUntil<T>(what: string, ms: number, check: () => Promise<T | undefined | false> | T | undefined | false, context: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${context()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Adds a pod to the node through the bridge plugin with the CNI config the agent wrote; its IPv4 address. */
export async function addPod(pool: NetnsPool, node: SimNode, id: string, bin: string = binDir()): Promise<{ ns: TestNetns; ip: string }> {
  const list = JSON.parse(readFileSync(join(node.confDir, '10-tscni-cluster.conflist'), 'utf8'))
  const config = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion }
  const ns = await pool.create('tscni-pod')
  const reply = await bridgeOk('ADD', { host: node.ns, bin, containerId: id, netns: ns.path }, config)
  return { ns, ip: String(reply.json.ips[0].address).split('/')[0]! }
}

/** A TCP server in `ns` on port 8080 answering each connection with the address it came from. */
export function echoPeer(ns: TestNetns): { stop(): void } {
  const proc = execa('ip', ['netns', 'exec', ns.name, 'socat', 'TCP4-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR'], { reject: false })
  return { stop: () => void proc.kill('SIGKILL') }
}

/** Our tagged routes in a namespace, as "dst via gw dev dev". */
export async function taggedRoutes(ns: TestNetns): Promise<string[]> {
  const routes = await ns.ipJson<Array<{ dst: string; gateway?: string; dev?: string }>>(['route', 'show', 'proto', '77'])
  return routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort()
}
