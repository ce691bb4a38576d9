// The release image in the private containerd: it carries the version label and only the executable, the tools
// its long-running commands call and their libraries; the DaemonSet's init step (deploy/single-node, command taken
// from the manifest) run as a container with temp dirs bind-mounted as /host/opt/cni/bin and /host/etc/cni/net.d
// installs the executable, its links and the complete conflist, and a reader racing the writes never sees half a
// conflist (a deliberately non-atomic writer shows the reader would).
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { startContainerd, type PrivateContainerd } from '../support/containerd.ts'
import { release, type Release } from '../support/release.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const NS = 'tscni-deploy'
let containerd: PrivateContainerd | undefined
let rel: Release

beforeAll(() => {
  rel = release()
}, 600_000)

afterEach(async () => {
  await containerd?.cleanup()
  containerd = undefined
}, 120_000)

beforeEach(async () => {
  containerd = await startContainerd({
    host: node.host,
    tscni: resolve('dist/tscni'),
    conflist: () => ({ cniVersion: '1.0.0', name: 'unused', plugins: [{ type: 'loopback' }] }),
    sandboxImage: 'localhost/tscni-test/pause:1',
  })
  await ctr(['images', 'import', rel.image])
}, 180_000)

async function ctr(args: readonly string[], reject = true) {
  const c = containerd!
  return c.spawn('ctr', ['--address', c.socket, '--namespace', NS, ...args], { reject, timeout: 120_000 })
}

/** A file of the image archive (an OCI layout tar). */
function fromArchive(path: string): Buffer {
  return execFileSync('tar', ['-xOf', rel.image, path], { maxBuffer: 1 << 30 })
}

/** The init step's command from deploy/single-node/daemonset.yaml. */
function initCommand(): string[] {
  const yaml = readFileSync('deploy/single-node/daemonset.yaml', 'utf8')
  const block = yaml.slice(yaml.indexOf('name: install-cni'))
  const m = /command: \[([^\]]+)\]/.exec(block)
  if (!m) throw new Error('no command in the install-cni init container')
  return m[1]!.split(',').map((s) => s.trim().replace(/^'|'$/g, ''))
}

/** The conflist of deploy/single-node/conflist.yaml. */
function manifestConflist(): Record<string, unknown> {
  const yaml = readFileSync('deploy/single-node/conflist.yaml', 'utf8')
  const body = yaml.slice(yaml.indexOf('10-tscni.conflist: |') + '10-tscni.conflist: |'.length)
  return JSON.parse(body.split('\n').map((l) => l.replace(/^ {4}/, '')).join('\n'))
}

it('carries its version as a label, and only the executable, its tools and their libraries', () => {
  const index = JSON.parse(fromArchive('index.json').toString())
  const manifest = JSON.parse(fromArchive(`blobs/sha256/${index.manifests[0].digest.split(':')[1]}`).toString())
  const config = JSON.parse(fromArchive(`blobs/sha256/${manifest.config.digest.split(':')[1]}`).toString())
  expect(index.manifests[0].annotations['io.containerd.image.name']).toBe(rel.imageName)
  expect(config.config.Labels['org.opencontainers.image.version']).toBe(rel.version)
  expect(config.config.Entrypoint).toEqual(['/usr/local/bin/tscni'])
  const layer = fromArchive(`blobs/sha256/${manifest.layers[0].digest.split(':')[1]}`)
  const entries = execFileSync('tar', ['-tz'], { input: layer, maxBuffer: 1 << 30, encoding: 'utf8' }).trim().split('\n').filter((e) => !e.endsWith('/'))
  expect(entries).toContain('usr/local/bin/tscni')
  expect(entries).toContain('usr/sbin/ip')
  expect(entries).toContain('usr/sbin/nft')
  const allowed = /^(usr\/local\/bin\/tscni|bin\/sh|var\/run|usr\/sbin\/(ip|bridge|nft|conntrack|x?(ip6?tables|tables)[-\w]*)|usr\/bin\/(nsenter|flock)|(usr\/)?lib(64|\/[\w-]+)?\/.*\.so[.\d]*)$/
  expect(entries.filter((e) => !allowed.test(e))).toEqual([])
})

it('the tools of the long-running commands run inside the image', async () => {
  const run = await ctr(['run', '--rm', '--cgroup', `${containerd!.cgroupParent}/tools`, rel.imageName, 'tools', '/bin/sh', '-c',
    'ip -V && bridge -V && nft --version && iptables --version && iptables-legacy --version && ip6tables --version && conntrack --version && nsenter --version && flock --version && tscni version'], false)
  expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0)
  expect(String(run.stdout)).toMatch(/iptables v[\d.]+ \(nf_tables\)/)
  expect(String(run.stdout)).toMatch(/iptables v[\d.]+ \(legacy\)/)
  expect(String(run.stdout)).toContain(`tscni ${rel.version}`)
})

it('the init step installs the executable, its links and the conflist; a racing reader never sees half a conflist', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-deploy-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const bin = join(dir, 'opt-cni-bin')
  const conf = join(dir, 'etc-cni-net.d')
  const configMap = join(dir, 'configmap')
  for (const d of [bin, conf, configMap]) mkdirSync(d)
  const command = initCommand()
  expect(command.slice(0, 2)).toEqual(['/usr/local/bin/tscni', 'install'])
  const confName = command[command.indexOf('--conflist') + 1]!.split('/').pop()!
  // Two versions of the manifest's conflist, large enough that a write takes many pages.
  const base = manifestConflist()
  const padding = 'x'.repeat(512 * 1024)
  const versions = ['10.88.0.0/16', '10.89.0.0/16'].map((subnet) => {
    const c = JSON.parse(JSON.stringify(base))
    c.plugins[0].ipam.ranges = [[{ subnet }]]
    c['x-padding'] = padding
    return `${JSON.stringify(c, null, 2)}\n`
  })

  // The reader: what a runtime scanning the conf dir would load, as often as the event loop lets it.
  const seen = { reads: 0, partial: 0 }
  let reading = true
  const reader = (async () => {
    while (reading) {
      for (const name of readdirSync(conf).filter((n) => /\.(conflist|conf|json)$/.test(n))) {
        let text: string
        try {
          text = readFileSync(join(conf, name), 'utf8')
        } catch {
          continue
        }
        seen.reads++
        if (!versions.includes(text)) seen.partial++
      }
      await new Promise((r) => setImmediate(r))
    }
  })()

  try {
    // The reader is able to see a half-written file: a plain write in two halves, 300 ms apart.
    const half = join(dir, 'half')
    writeFileSync(half, versions[0]!)
    await execa('sh', ['-c', 'head -c 300000 "$1" > "$2"; sleep 0.3; tail -c +300001 "$1" >> "$2"', 'sh', half, join(conf, confName)])
    expect(seen.partial, 'the reader catches a non-atomic write').toBeGreaterThan(0)
    rmSync(join(conf, confName))
    seen.partial = 0
    seen.reads = 0

    for (const [i, text] of [versions[0]!, versions[1]!, versions[0]!, versions[1]!].entries()) {
      writeFileSync(join(configMap, confName), text)
      const run = await ctr([
        'run', '--rm', '--cgroup', `${containerd!.cgroupParent}/init-${i}`,
        '--mount', `type=bind,src=${bin},dst=/host/opt/cni/bin,options=rbind:rw`,
        '--mount', `type=bind,src=${conf},dst=/host/etc/cni/net.d,options=rbind:rw`,
        '--mount', `type=bind,src=${configMap},dst=${command[command.indexOf('--conflist') + 1]!.replace(/\/[^/]+$/, '')},options=rbind:ro`,
        rel.imageName, `init-${i}`, ...command,
      ], false)
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0)
      expect(String(run.stdout)).toMatch(new RegExp(`wrote /host/etc/cni/net.d/${confName} \\(atomically\\)`))
      expect(readFileSync(join(conf, confName), 'utf8')).toBe(text)
    }
  } finally {
    reading = false
    await reader
  }
  expect(seen.reads, 'the reader ran during the writes').toBeGreaterThan(10)
  expect(seen.partial, 'no half-written conflist was observable').toBe(0)
  expect(readdirSync(conf), 'no temporary file is left').toEqual([confName])

  expect(lstatSync(join(bin, 'tscni')).isFile()).toBe(true)
  for (const r of ['bridge', 'host-local', 'portmap', 'loopback', 'dnsname']) expect(readlinkSync(join(bin, `tscni-${r}`))).toBe('tscni')
  // The init step installs only tscni-* names: the reference plugins' names stay theirs.
  expect(existsSync(join(bin, 'bridge'))).toBe(false)
  const version = await execa(join(bin, 'tscni'), ['version'])
  expect(version.stdout).toContain(`tscni ${rel.version}`)
  expect(await ctr(['container', 'ls', '-q']).then((r) => String(r.stdout))).toBe('')
}, 180_000)
