// Integration prerequisites: root, the system tools, and a built executable linked under every role name.
// Anything missing fails the whole run loudly: a skipped integration suite would hide a broken plugin.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'
import { DEFAULT_STATE_DIR as MACHINE_STATE_DIR } from '../../src/plugin/attachment-record.ts'

const TOOLS = ['ip', 'nsenter', 'flock', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'nft', 'conntrack', 'bridge', 'socat', 'ping', 'curl', 'nginx', 'unshare', 'setpriv', 'mount', 'containerd', 'ctr', 'runc', 'catatonit', 'busybox', 'podman', 'dnsmasq', 'etcd', 'etcdctl', 'openssl']
// The Debian reference plugins the side-by-side and interop tests run (package containernetworking-plugins).
const REFERENCE_PLUGINS = ['loopback', 'bridge', 'host-local', 'portmap'].map((name) => `/usr/lib/cni/${name}`)
const ROLE_LINKS = ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback', 'tscni-dnsname', 'bridge', 'host-local', 'portmap', 'loopback', 'dnsname', 'tscni-tuning', 'tuning', 'tscni-bandwidth', 'bandwidth', 'tscni-firewall', 'firewall']
// Built, not packaged: scripts/build-cnitool.sh makes it from Debian's source package.
const BUILT = ['.cache/bin/cnitool']

declare module 'vitest' {
  export interface ProvidedContext {
    binDir: string
  }
}

export default function setup(project: TestProject): () => void {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root (network namespaces, bridges, firewall): run them as root, e.g. in CI')
  const missing = TOOLS.filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
  if (missing.length > 0) throw new Error(`integration tests need these tools, which are missing: ${missing.join(', ')} (run scripts/setup.sh)`)
  const absent = REFERENCE_PLUGINS.filter((file) => !existsSync(file))
  if (absent.length > 0) throw new Error(`integration tests need the reference plugins, which are missing: ${absent.join(', ')} (run scripts/setup.sh: Debian package containernetworking-plugins)`)
  const unbuilt = BUILT.filter((f) => !existsSync(resolve(f)))
  if (unbuilt.length > 0) throw new Error(`integration tests need ${unbuilt.join(', ')}, which is missing (run scripts/setup.sh as root: it builds cnitool)`)
  const exe = resolve('dist/tscni')
  if (!existsSync(exe)) throw new Error('dist/tscni is missing: run npm run build first (npm test does)')
  const dir = mkdtempSync(join(tmpdir(), 'tscni-bin-'))
  copyFileSync(exe, join(dir, 'tscni'))
  execFileSync('chmod', ['755', join(dir, 'tscni')])
  for (const name of ROLE_LINKS) symlinkSync('tscni', join(dir, name))
  project.provide('binDir', dir)
  // Every plugin the tests run writes its attachment records here (test workers inherit the variable); a test
  // that looks at records uses a stateDir of its own.
  const stateDir = mkdtempSync(join(tmpdir(), 'tscni-state-'))
  process.env.TSCNI_STATE_DIR = stateDir
  // Tests must never write the machine's own state: a record that appears there during the run fails the run.
  const machineRecords = () => (existsSync(MACHINE_STATE_DIR) ? readdirSync(MACHINE_STATE_DIR) : [])
  const before = new Set(machineRecords())
  return () => {
    rmSync(dir, { recursive: true, force: true })
    rmSync(stateDir, { recursive: true, force: true })
    const leaked = machineRecords().filter((f) => !before.has(f))
    if (leaked.length > 0) throw new Error(`a test wrote attachment records into the machine's ${MACHINE_STATE_DIR} (pass TSCNI_STATE_DIR): ${leaked.join(', ')}`)
  }
}
