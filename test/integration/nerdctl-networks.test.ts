// nerdctl's network lists (pkg/netutil/netutil_unix.go: bridge → portmap → firewall → tuning) on tscni alone,
// through cnitool, on both firewall backends: the default network `bridge` (nerdctl0, ingressPolicy same-bridge), a
// user network on another bridge, and an `isolated` one (icc=false). Containers of one bridge reach each other,
// containers of different bridges do not, the isolated bridge's containers not even each other, and all reach a
// namespace beyond the host, which reaches a published port. Afterwards nothing is left. nerdctl's firewall probe
// (no arguments, no CNI_COMMAND, `CNI firewall plugin vX.Y.Z` on stderr) reads a version that enables `isolated`.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { beforeEach, describe, expect, it } from 'vitest'
import { linkNames, listen, reservations, tcpGet } from '../support/bridge.ts'
import { cnitool, cnitoolContainerId, type CnitoolSetup } from '../support/cnitool.ts'
import { forwardState, outsideNamespace, reaches, runtimeBinDir } from '../support/firewall-role.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, ownedLines, ownedPatterns, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let setup: CnitoolSetup
beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-nerdctl-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const bin = runtimeBinDir()
  node.defer(bin.cleanup)
  const confDir = join(dir, 'net.d')
  const varLib = join(dir, 'var-lib')
  mkdirSync(confDir)
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  setup = { host: node.host, confDir, binDir: bin.dir, varLib }
})

const said = (r: { exitCode?: number; stdout: unknown; stderr: unknown }) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`

/**
 * A list as nerdctl generates it; on iptables exactly (no backend: the automatic choice), on nftables with each
 * plugin's backend option set (nerdctl has no such setting; an operator edits the file).
 */
function nerdctlList(backend: Backend, name: string, bridge: string, subnet: string, policy: 'same-bridge' | 'isolated', dataDir: string) {
  const nft = backend === 'nftables'
  return {
    cniVersion: '1.0.0',
    name,
    nerdctlID: `${name}-0123456789abcdef`,
    nerdctlLabels: {},
    plugins: [
      {
        type: 'bridge', bridge, isGateway: true, ipMasq: true, hairpinMode: true, ...(nft ? { ipMasqBackend: 'nftables' } : {}),
        ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: `${subnet}.0/24`, gateway: `${subnet}.1` }]], dataDir },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true }, ...(nft ? { backend: 'nftables' } : {}) },
      { type: 'firewall', ingressPolicy: policy, ...(nft ? { backend: 'nftables' } : {}) },
      { type: 'tuning' },
    ],
  }
}

it("nerdctl's probe of the firewall plugin reads a version that allows ingressPolicy isolated (>= 1.7.1)", async () => {
  const res = await execa(join(setup.binDir, 'firewall'), [], { reject: false, env: { PATH: process.env.PATH ?? '' }, extendEnv: false })
  // nerdctl's parser (pkg/netutil/cni_plugin_unix.go): the stderr line "CNI firewall plugin vX.Y.Z".
  const m = /CNI firewall plugin v(\d+)\.(\d+)\.(\d+)/.exec(String(res.stderr))
  expect(m, String(res.stderr)).not.toBeNull()
  const [major, minor, patch] = m!.slice(1).map(Number)
  expect(major! * 10_000 + minor! * 100 + patch!).toBeGreaterThanOrEqual(10701)
})

describe.each(BACKENDS)('nerdctl networks on %s', (backend) => {
  it('same bridge reaches, other bridges do not, isolated not even within, the outside does; nothing left after DEL', async () => {
    const nets = [
      nerdctlList(backend, 'bridge', 'nerdctl0', '10.4.0', 'same-bridge', node.dataDir),
      nerdctlList(backend, 'user', 'br-0a1b2c3d4e5f', '10.4.1', 'same-bridge', node.dataDir),
      nerdctlList(backend, 'quiet', 'br-150150150150', '10.4.2', 'isolated', node.dataDir),
    ]
    for (const n of nets) writeFileSync(join(setup.confDir, `nerdctl-${n.name}.conflist`), JSON.stringify(n, null, 2))
    const outside = await outsideNamespace(node.pool, node.host, '10.67.0.1', '10.67.0.2')

    const attached: Array<{ ns: TestNetns; network: string; ip: string; capArgs: unknown }> = []
    const attach = async (network: string, capArgs: unknown = { portMappings: [] }) => {
      const ns = await node.pool.create('tscni-c')
      const add = await cnitool(setup, 'add', network, ns.path, { capArgs })
      expect(add.exitCode, said(add)).toBe(0)
      const ip = String(JSON.parse(String(add.stdout)).ips[0].address).split('/')[0]!
      attached.push({ ns, network, ip, capArgs })
      return { ns, ip }
    }
    const a1 = await attach('bridge', { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] })
    const a2 = await attach('bridge')
    const b1 = await attach('user')
    const i1 = await attach('quiet')
    const i2 = await attach('quiet')

    expect(await reaches(a1.ns, a2.ip)).toBe(true)
    expect(await reaches(a2.ns, a1.ip)).toBe(true)
    expect(await reaches(a1.ns, b1.ip)).toBe(false)
    expect(await reaches(b1.ns, a1.ip)).toBe(false)
    expect(await reaches(i1.ns, i2.ip)).toBe(false)
    expect(await reaches(i1.ns, a1.ip)).toBe(false)
    expect(await reaches(a1.ns, i1.ip)).toBe(false)
    for (const c of [a1, b1, i1]) expect(await reaches(c.ns, '10.67.0.2')).toBe(true)
    const server = listen(a1.ns, 80, 'served-by-nerdctl-container')
    node.defer(server.stop)
    expect(await tcpGet(outside, '10.67.0.1', 8080, 20)).toBe('served-by-nerdctl-container')

    const all = [...attached]
    for (const c of attached) {
      const check = await cnitool(setup, 'check', c.network, c.ns.path, { capArgs: c.capArgs })
      expect(check.exitCode, said(check)).toBe(0)
    }
    // Each DEL leaves the isolation of a bridge that still has containers: b1's bridge still stops a1.
    for (const c of attached.splice(0, 2)) {
      const del = await cnitool(setup, 'del', c.network, c.ns.path, { capArgs: c.capArgs })
      expect(del.exitCode, said(del)).toBe(0)
    }
    expect(await reaches(b1.ns, '10.4.0.1')).toBe(true)
    expect(await reaches(i1.ns, i2.ip)).toBe(false)
    for (const c of attached) {
      const del = await cnitool(setup, 'del', c.network, c.ns.path, { capArgs: c.capArgs })
      expect(del.exitCode, said(del)).toBe(0)
    }

    expect(await forwardState(node.host)).toEqual([])
    for (const c of all) {
      const owner = { network: c.network, containerId: cnitoolContainerId(c.ns.path), ifname: 'eth0' }
      expect(await ownedLines(node.host, ownedPatterns(owner, [c.ip]))).toEqual([])
    }
    for (const n of nets) expect(reservations(node.dataDir, n.name)).toEqual([])
    const records = join(setup.varLib, 'tscni', 'attachments')
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([])
    expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toEqual([])
  })
})
