// The firewall role beside the reference plugins (Debian's containernetworking-plugins), through cnitool: tscni's
// firewall after the reference bridge, the reference firewall after tscni's bridge, and a node switching firewall
// implementation between ADD and DEL, each way. Each leaves no rule naming the container, no reservation, no veth.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { cnitool, cnitoolContainerId, type CnitoolSetup } from '../support/cnitool.ts'
import { filterRules, forwardState, outsideNamespace, reaches, runtimeBinDir } from '../support/firewall-role.ts'
import { ownedLines, ownedPatterns } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let base: Omit<CnitoolSetup, 'binDir'>
beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-fw-interop-'))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  const confDir = join(dir, 'net.d')
  const varLib = join(dir, 'var-lib')
  mkdirSync(confDir)
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  base = { host: node.host, confDir, varLib }
})

function binWith(reference: readonly string[]): CnitoolSetup {
  const bin = runtimeBinDir(reference)
  node.defer(bin.cleanup)
  return { ...base, binDir: bin.dir }
}

const said = (r: { exitCode?: number; stdout: unknown; stderr: unknown }) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`

// The reference plugins on this machine speak up to 1.0.0.
function list(dataDir: string) {
  return {
    cniVersion: '1.0.0',
    name: 'fwinterop',
    plugins: [
      { type: 'bridge', bridge: 'fwi0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.68.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir } },
      { type: 'firewall', backend: 'iptables' },
    ],
  }
}

/** ADD with one bin dir, traffic through a dropping FORWARD, DEL with the other (or the same); nothing left. */
async function roundTrip(addWith: CnitoolSetup, delWith: CnitoolSetup, tscniRecordLeft = false): Promise<void> {
  writeFileSync(join(base.confDir, 'fwinterop.conflist'), JSON.stringify(list(node.dataDir), null, 2))
  await node.host.exec('iptables', ['-P', 'FORWARD', 'DROP'])
  await outsideNamespace(node.pool, node.host, '10.69.0.1', '10.69.0.2')
  const c = await node.pool.create('tscni-c')
  const add = await cnitool(addWith, 'add', 'fwinterop', c.path)
  expect(add.exitCode, said(add)).toBe(0)
  const ip = String(JSON.parse(String(add.stdout)).ips[0].address).split('/')[0]!
  expect(await filterRules(node.host)).toContain(`-A CNI-FORWARD -s ${ip}/32 -j ACCEPT`)
  expect(await reaches(c, '10.69.0.2')).toBe(true)
  const check = await cnitool(addWith, 'check', 'fwinterop', c.path)
  expect(check.exitCode, said(check)).toBe(0)
  for (const round of ['first', 'second']) {
    const del = await cnitool(delWith, 'del', 'fwinterop', c.path)
    expect(del.exitCode, `${round} DEL: ${said(del)}`).toBe(0)
  }
  expect(await ownedLines(node.host, ownedPatterns({ network: 'fwinterop', containerId: cnitoolContainerId(c.path), ifname: 'eth0' }, [ip]))).toEqual([])
  expect((await filterRules(node.host)).filter((l) => l.includes(ip))).toEqual([])
  expect(reservations(node.dataDir, 'fwinterop')).toEqual([])
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toEqual([])
  const records = join(base.varLib, 'tscni', 'attachments')
  const left = existsSync(records) ? readdirSync(records) : []
  if (tscniRecordLeft) expect(left.map((f) => f.split('-')[0])).toEqual(['firewall'])
  else expect(left).toEqual([])
}

describe('firewall interop with the reference plugins', () => {
  it("tscni's firewall after the reference bridge and host-local", async () => {
    const mixed = binWith(['bridge', 'host-local'])
    await roundTrip(mixed, mixed)
    // tscni's DEL also removed the chains it made once their last accept rule went.
    expect(await forwardState(node.host)).toEqual([])
  })

  it("the reference firewall after tscni's bridge", async () => {
    const mixed = binWith(['firewall'])
    await roundTrip(mixed, mixed)
    // The reference keeps its (then empty) chains for ever; only they are left.
    expect((await forwardState(node.host)).filter((l) => l.startsWith('v4 -A CNI-FORWARD') && !l.includes('admin overrides'))).toEqual([])
  })

  it('a node switching from the reference firewall to tscni between ADD and DEL: tscni removes the reference rules', async () => {
    await roundTrip(binWith(['firewall']), binWith([]))
    expect(await forwardState(node.host)).toEqual([])
  })

  it('a node switching from tscni to the reference firewall between ADD and DEL: the reference removes tscni rules', async () => {
    // tscni's record of the attachment stays (the reference knows nothing of it) until tscni gc or reconcile
    // finds its namespace gone; the rules it names are gone already.
    await roundTrip(binWith([]), binWith(['firewall']), true)
  })
})
