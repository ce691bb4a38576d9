// Nomad's bridge networking list (client/allocrunner/cni/bridge.go: loopback → bridge with forceAddress and its own
// host-local dataDir → firewall with iptablesAdminChainName NOMAD-ADMIN → portmap with snat) on tscni alone, through
// cnitool: ADD, the allocation reaches a namespace beyond the host through a FORWARD chain whose policy drops and is
// reached through its host port once the operator allows it in NOMAD-ADMIN, CHECK as Nomad runs it on restore, DEL, DEL again, and nothing left. Nomad's
// fingerprint (first whitespace token that parses as a semver, at least 0.4.0) of all five plugins.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { beforeEach, expect, it } from 'vitest'
import { linkNames, listen, reservations, tcpGet } from '../support/bridge.ts'
import { cnitool, cnitoolContainerId, type CnitoolSetup } from '../support/cnitool.ts'
import { filterRules, forwardState, outsideNamespace, reaches, runtimeBinDir } from '../support/firewall-role.ts'
import { ownedLines, ownedPatterns } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let setup: CnitoolSetup
beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-nomad-'))
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

/** Nomad's template with its options; the host-local dataDir (Nomad's /var/run/cni) is the test's own. */
function nomadList(dataDir: string) {
  return {
    cniVersion: '0.4.0',
    name: 'nomad',
    plugins: [
      { type: 'loopback' },
      {
        type: 'bridge', bridge: 'nomad', ipMasq: true, isGateway: true, forceAddress: true, hairpinMode: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: '172.26.64.0/20' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
      },
      { type: 'firewall', backend: 'iptables', iptablesAdminChainName: 'NOMAD-ADMIN' },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  }
}

// go-version's NewSemver pattern (hashicorp/go-version version.go SemverRegexpRaw), anchored as Nomad uses it.
const SEMVER = /^v?([0-9]+(\.[0-9]+)*?)(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?$/

it('Nomad fingerprints loopback, bridge, host-local, firewall and portmap at a version of at least 0.4.0', async () => {
  for (const plugin of ['loopback', 'bridge', 'host-local', 'firewall', 'portmap']) {
    const res = await execa(join(setup.binDir, plugin), [], { reject: false, env: { PATH: process.env.PATH ?? '' }, extendEnv: false })
    const token = `${res.stdout}\n${res.stderr}`.split(/\s+/).find((t) => SEMVER.test(t))
    expect(token, `${plugin}: ${res.stdout}${res.stderr}`).toBeDefined()
    const [major, minor] = token!.replace(/^v/, '').split('.').map(Number)
    expect(major! > 0 || minor! >= 4, `${plugin} reports ${token}`).toBe(true)
  }
})

it("Nomad's bridge list: ADD, egress through a dropping FORWARD policy, host port (opened in NOMAD-ADMIN), CHECK, DEL twice, nothing left", async () => {
  writeFileSync(join(setup.confDir, 'nomad.conflist'), JSON.stringify(nomadList(node.dataDir), null, 2))
  // Nomad nodes often run Docker, whose FORWARD policy is DROP: the firewall plugin's accept rules carry the traffic.
  await node.host.exec('iptables', ['-P', 'FORWARD', 'DROP'])
  const outside = await outsideNamespace(node.pool, node.host, '10.66.0.1', '10.66.0.2')
  const alloc = await node.pool.create('tscni-c')
  const capArgs = { portMappings: [{ hostPort: 28080, containerPort: 8080, protocol: 'tcp' }] }

  const add = await cnitool(setup, 'add', 'nomad', alloc.path, { capArgs })
  expect(add.exitCode, said(add)).toBe(0)
  const result = JSON.parse(String(add.stdout))
  expect(result.cniVersion).toBe('0.4.0')
  const ip = String(result.ips.find((i: { address: string }) => !i.address.includes(':')).address).split('/')[0]!
  expect(ip).toMatch(/^172\.26\.(6[4-9]|7[0-9])\.\d+$/)
  expect(reservations(node.dataDir, 'nomad')).toEqual([ip])
  expect(await filterRules(node.host)).toContain('-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j NOMAD-ADMIN')
  expect(await filterRules(node.host)).toContain(`-A CNI-FORWARD -s ${ip}/32 -j ACCEPT`)

  // loopback was brought up by the first plugin of the same list.
  expect(String((await alloc.exec('ip', ['-o', 'link', 'show', 'lo'])).stdout)).toContain('UP')
  expect(await reaches(alloc, '10.66.0.2')).toBe(true)
  const server = listen(alloc, 8080, 'served-by-nomad-alloc')
  node.defer(server.stop)
  expect(await tcpGet(node.host, '127.0.0.1', 28080, 20)).toBe('served-by-nomad-alloc')
  // As with the reference, the plugin accepts only the allocation's own and its established traffic: a new
  // connection from outside to a published port is the operator's to allow, in the admin chain jumped first.
  expect(await tcpGet(outside, '10.66.0.1', 28080, 3)).toBe('')
  await node.host.exec('iptables', ['-A', 'NOMAD-ADMIN', '-d', `${ip}/32`, '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT'])
  expect(await tcpGet(outside, '10.66.0.1', 28080, 20)).toBe('served-by-nomad-alloc')

  const check = await cnitool(setup, 'check', 'nomad', alloc.path, { capArgs })
  expect(check.exitCode, said(check)).toBe(0)
  // CHECK sees a removed accept rule (Nomad then recreates the network).
  await node.host.exec('iptables', ['-D', 'CNI-FORWARD', '-s', `${ip}/32`, '-j', 'ACCEPT'])
  const broken = await cnitool(setup, 'check', 'nomad', alloc.path, { capArgs })
  expect(broken.exitCode).not.toBe(0)
  expect(`${broken.stdout}${broken.stderr}`).toContain(`-s ${ip}/32 -j ACCEPT`)

  const containerId = cnitoolContainerId(alloc.path)
  const patterns = ownedPatterns({ network: 'nomad', containerId, ifname: 'eth0' }, [ip])
  for (const round of ['first', 'second']) {
    const del = await cnitool(setup, 'del', 'nomad', alloc.path, { capArgs })
    expect(del.exitCode, `${round} DEL: ${said(del)}`).toBe(0)
  }
  // The operator's admin chain and rule stay; nothing of the plugin's does.
  expect(await forwardState(node.host, 'NOMAD-ADMIN')).toEqual(['v4 :NOMAD-ADMIN - [0:0]', `v4 -A NOMAD-ADMIN -d ${ip}/32 -p tcp -m tcp --dport 8080 -j ACCEPT`])
  await node.host.exec('iptables', ['-D', 'NOMAD-ADMIN', '-d', `${ip}/32`, '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT'])
  expect(await ownedLines(node.host, patterns)).toEqual([])
  expect(reservations(node.dataDir, 'nomad')).toEqual([])
  const records = join(setup.varLib, 'tscni', 'attachments')
  expect(existsSync(records) ? readdirSync(records) : []).toEqual([])
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toEqual([])
})
