// cnitool, the CNI project's own client (libcni 1.1.2, built from Debian's source package), drives tscni under the
// standard names through bridge + host-local + portmap with port mappings in CAP_ARGS, for both firewall backends:
// ADD, traffic through the host port, CHECK, DEL, DEL again; afterwards no veth, reservation, rule or cached result.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { linkNames, listen, reservations, tcpGet } from '../support/bridge.ts'
import { cnitool, cnitoolContainerId, type CnitoolSetup } from '../support/cnitool.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, containerIps, gateways, ownedLines, ownedPatterns, portmapNetwork } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let host: TestNetns
let setup: CnitoolSetup
beforeEach(() => {
  host = node.host
  const dir = mkdtempSync(join(tmpdir(), 'tscni-cnitool-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const confDir = join(dir, 'net.d')
  const varLib = join(dir, 'var-lib')
  mkdirSync(confDir)
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  setup = { host, confDir, binDir: node.bin, varLib }
})

/** What a failed call printed, for the assertion message. */
const said = (r: { exitCode?: number; stdout: unknown; stderr: unknown }) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`

describe.each(BACKENDS)('cnitool with portmap on %s', (backend) => {
  it('ADD, traffic through the host port, CHECK, DEL, DEL again, and nothing is left', async () => {
    const network = `cnitool-${backend}`
    // libcni 1.1.2 parses results up to spec 1.0.0 (it refuses a 1.1.0 result), so the list says 1.0.0.
    const list = portmapNetwork(backend, node.dataDir, { name: network, bridge: 'cni-tool0', cniVersion: '1.0.0' })
    writeFileSync(join(setup.confDir, `10-${network}.conflist`), JSON.stringify(list, null, 2))
    const container = await node.pool.create('tscni-c')
    const capArgs = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }
    const containerId = cnitoolContainerId(container.path)

    const add = await cnitool(setup, 'add', network, container.path, { capArgs })
    expect(add.exitCode, said(add)).toBe(0)
    const result = JSON.parse(String(add.stdout))
    expect(result.cniVersion).toBe('1.0.0')
    const ips = containerIps(result)
    expect(ips.v4).toBe('10.47.0.2')
    expect(result.interfaces.some((i: { name: string; sandbox?: string }) => i.name === 'eth0' && i.sandbox === container.path)).toBe(true)
    // libcni cached the result in the private cache, where CHECK and DEL read it from.
    const results = join(setup.varLib, 'cni', 'results')
    expect(readdirSync(results)).toEqual([`${network}-${containerId}-eth0`])
    expect(reservations(node.dataDir, network)).toHaveLength(2)

    const server = listen(container, 80, 'served-by-cnitool-container')
    node.defer(server.stop)
    const gw = gateways(result).v4
    expect(await tcpGet(host, gw, 8080, 20)).toBe('served-by-cnitool-container')
    expect(await tcpGet(host, '127.0.0.1', 8080, 20)).toBe('served-by-cnitool-container')

    const check = await cnitool(setup, 'check', network, container.path, { capArgs })
    expect(check.exitCode, said(check)).toBe(0)

    const patterns = ownedPatterns({ network, containerId, ifname: 'eth0' }, [ips.v4, ips.v6])
    expect((await ownedLines(host, patterns)).length).toBeGreaterThan(0)
    for (const round of ['first', 'second']) {
      const del = await cnitool(setup, 'del', network, container.path, { capArgs })
      expect(del.exitCode, `${round} DEL: ${said(del)}`).toBe(0)
    }

    expect(await ownedLines(host, patterns)).toEqual([])
    expect(reservations(node.dataDir, network)).toEqual([])
    expect(existsSync(results) ? readdirSync(results) : []).toEqual([])
    expect(await linkNames(container)).toEqual(['lo'])
    // Only the bridge stays in the host (as with the reference bridge); the container's veth is gone.
    expect(await linkNames(host)).toEqual(['cni-tool0', 'lo'])
    expect(await tcpGet(host, '127.0.0.1', 8080, 2)).toBe('')
  })
})
