// deploy/: the manifests name this release's image, add no capability beyond NET_ADMIN and NET_RAW, probe the
// address the containers serve health on, and mount the node agent's state dir where the readiness file it names
// in the conflist is on the host. (Plain text checks: the repository has no YAML parser, and needs none.)
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_STATE_DIR } from '../../../src/node/options.ts'
import { readyFileOf } from '../../../src/node/ready-path.ts'

const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string
const daemonSets = ['deploy/cluster/daemonset.yaml', 'deploy/single-node/daemonset.yaml']
const read = (f: string) => readFileSync(f, 'utf8')

describe('deploy manifests', () => {
  it('every kustomization lists files that exist', () => {
    for (const dir of ['deploy/cluster', 'deploy/single-node']) {
      const text = read(join(dir, 'kustomization.yaml'))
      const resources = [...text.matchAll(/^ {2}- (\S+)$/gm)].map((m) => m[1]!)
      expect(resources.length).toBeGreaterThan(1)
      for (const r of resources) expect(() => read(join(dir, r)), `${dir}: ${r}`).not.toThrow()
    }
  })
  it('name the image of this version', () => {
    for (const f of daemonSets) {
      const images = [...read(f).matchAll(/image: (\S+)/g)].map((m) => m[1])
      expect(images.length, f).toBeGreaterThan(1)
      for (const i of images) expect(i, f).toBe(`localhost/tscni:v${version}`)
    }
  })
  it('drop every capability and add only NET_ADMIN and NET_RAW', () => {
    for (const f of daemonSets) {
      // Comments explain what is not added; only the YAML itself counts.
      const text = read(f).split('\n').map((l) => l.replace(/#.*$/, '')).join('\n')
      const containers = (text.match(/^ +image: /gm) ?? []).length
      expect((text.match(/drop: \[ALL\]/g) ?? []).length, f).toBe(containers)
      for (const m of text.matchAll(/add: \[([^\]]*)\]/g)) expect(m[1]!.split(',').map((s) => s.trim()).sort(), f).toEqual(['NET_ADMIN', 'NET_RAW'])
      expect(text).not.toMatch(/privileged: true|SYS_ADMIN|hostPID: true/)
    }
  })
  it('probe the address given to --health-addr', () => {
    for (const f of daemonSets) {
      const text = read(f)
      const addr = /--health-addr[=,]\s*'?([\d.]+:\d+)/.exec(text)?.[1]
      expect(addr, f).toBeDefined()
      const [host, port] = addr!.split(':')
      for (const path of ['/healthz', '/readyz']) expect(text, `${f} ${path}`).toContain(`httpGet: { host: ${host}, port: ${port}, path: ${path} }`)
    }
  })
  it('mount the agent state dir at its host path, where the conflist says the readiness file is', () => {
    const text = read('deploy/cluster/daemonset.yaml')
    expect(readyFileOf({ stateDir: DEFAULT_STATE_DIR })).toBe(`${DEFAULT_STATE_DIR}/ready`)
    expect(text).toContain(`mountPath: ${DEFAULT_STATE_DIR} }`)
    expect(text).toContain(`hostPath: { path: ${DEFAULT_STATE_DIR}, type: DirectoryOrCreate }`)
    expect(text).not.toMatch(/--state-dir|--ready-file/)
  })
  it('the README of deploy/ names every manifest directory', () => {
    const doc = read('deploy/README.md')
    for (const d of readdirSync('deploy', { withFileTypes: true }).filter((e) => e.isDirectory())) expect(doc).toContain(`\`${d.name}/\``)
  })
})
