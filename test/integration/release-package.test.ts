// The release artifacts of `npm run package`: the checksums hold; the archive extracted into a throwaway bin dir is
// a working install (cnitool ADD and DEL through it, nothing left); the Debian package has the layout and control
// data it claims, installs into a throwaway root without touching the machine's package database, and the
// installed executable runs `version` and `doctor --json` there.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { execa } from 'execa'
import { beforeAll, expect, it } from 'vitest'
import { linkNames, reservations } from '../support/bridge.ts'
import { cnitool } from '../support/cnitool.ts'
import { release, RELEASE_DIR, type Release } from '../support/release.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let rel: Release
beforeAll(() => {
  rel = release()
}, 600_000)

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  node.defer(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
const ROLES = ['bridge', 'host-local', 'portmap', 'loopback', 'dnsname']

it('SHA256SUMS of the release and of the archive match their files', () => {
  const check = execFileSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: RELEASE_DIR, encoding: 'utf8' })
  expect(check.trim().split('\n').sort()).toEqual([basename(rel.archive), basename(rel.deb), basename(rel.image)].sort().map((n) => `${n}: OK`))
  const bin = tempDir('tscni-release-sums-')
  execFileSync('tar', ['-xzf', rel.archive, '-C', bin])
  const inner = readFileSync(join(bin, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/) as [string, string])
  expect(inner.map(([, f]) => f)).toContain('tscni')
  expect(inner.map(([, f]) => f)).toContain('conf/systemd/tscni-reconcile.service')
  for (const [sum, f] of inner) expect(sha256(join(bin, f)), f).toBe(sum)
  // A changed byte is caught: the check is not vacuous.
  writeFileSync(join(bin, 'conf/bridge-host-local.conflist'), '{}')
  const bad = execa('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: bin, reject: false })
  return bad.then((r) => expect(r.exitCode).not.toBe(0))
})

it('the archive extracted into a bin dir is a working install: cnitool ADD and DEL through it', async () => {
  const bin = tempDir('tscni-release-bin-')
  execFileSync('tar', ['-xzf', rel.archive, '-C', bin])
  expect(lstatSync(join(bin, 'tscni')).isFile()).toBe(true)
  for (const r of [...ROLES, ...ROLES.map((x) => `tscni-${x}`)]) expect(readlinkSync(join(bin, r)), r).toBe('tscni')
  for (const f of ['conf/tscni-node.service', 'conf/systemd/tscni-reconcile.service', 'conf/bridge-host-local.conflist']) expect(existsSync(join(bin, f)), f).toBe(true)
  const version = await execa(join(bin, 'tscni'), ['version'])
  expect(version.stdout).toContain(`tscni ${rel.version}`)

  const dir = tempDir('tscni-release-cnitool-')
  const confDir = join(dir, 'net.d')
  const varLib = join(dir, 'var-lib')
  mkdirSync(confDir)
  mkdirSync(join(varLib, 'cni'), { recursive: true })
  const network = 'tscni-release'
  // The archive's own example, pointed at the test's data dir and a bridge of its own.
  const example = JSON.parse(readFileSync(join(bin, 'conf/bridge-host-local.conflist'), 'utf8'))
  example.name = network
  example.cniVersion = '1.0.0'
  example.plugins[0].bridge = 'cni-rel0'
  example.plugins[0].ipam.dataDir = node.dataDir
  writeFileSync(join(confDir, `10-${network}.conflist`), JSON.stringify(example))
  const setup = { host: node.host, confDir, binDir: bin, varLib }
  const container = await node.pool.create('tscni-c')
  const add = await cnitool(setup, 'add', network, container.path)
  expect(add.exitCode, `${add.stdout}\n${add.stderr}`).toBe(0)
  const ips = (JSON.parse(String(add.stdout)).ips as Array<{ address: string }>).map((i) => i.address.split('/')[0]!)
  expect(reservations(node.dataDir, network).sort()).toEqual([...ips].sort())
  const inside = await container.exec('ip', ['-o', 'addr', 'show', 'dev', 'eth0'])
  for (const ip of ips) expect(String(inside.stdout)).toContain(ip)
  const del = await cnitool(setup, 'del', network, container.path)
  expect(del.exitCode, `${del.stdout}\n${del.stderr}`).toBe(0)
  expect(reservations(node.dataDir, network)).toEqual([])
  expect((await linkNames(node.host)).filter((l) => l.startsWith('veth'))).toEqual([])
}, 120_000)

it('the Debian package: control data and layout; installs into a throwaway root, runs version and doctor there', async () => {
  const info = execFileSync('dpkg-deb', ['--info', rel.deb], { encoding: 'utf8' })
  expect(info).toMatch(/^ Package: tscni$/m)
  expect(info).toMatch(new RegExp(`^ Version: ${rel.version.replaceAll('.', '\\.')}$`, 'm'))
  expect(info).toMatch(/^ Depends: libc6 \(>= [\d.]+\).*iproute2/m)
  expect(info).toMatch(/postinst/)
  const contents = execFileSync('dpkg-deb', ['--contents', rel.deb], { encoding: 'utf8' })
  const paths = contents.trim().split('\n').map((l) => l.split(/\s+/).slice(5).join(' '))
  expect(paths).toContain('./usr/lib/cni/tscni')
  expect(paths).toContain('./usr/bin/tscni -> ../lib/cni/tscni')
  for (const r of ROLES) expect(paths).toContain(`./usr/lib/cni/tscni-${r} -> tscni`)
  // Side by side with containernetworking-plugins: none of its paths (/usr/lib/cni/<standard name>) is ours.
  for (const r of ROLES) expect(paths.some((p) => p.startsWith(`./usr/lib/cni/${r}`))).toBe(false)
  for (const u of ['tscni-node.service', 'tscni-reconcile.service', 'tscni-boot-reconcile.service']) expect(paths).toContain(`./lib/systemd/system/${u}`)
  expect(paths).toContain('./usr/share/doc/tscni/copyright')
  // Units are shipped, never enabled: no wants/ links, and the postinst does not call systemctl.
  expect(paths.some((p) => p.includes('.wants/'))).toBe(false)
  const postinst = execFileSync('dpkg-deb', ['--info', rel.deb, 'postinst'], { encoding: 'utf8' })
  expect(postinst).not.toMatch(/systemctl|deb-systemd/)
  expect(postinst).toMatch(/tscni" doctor/)

  const statusBefore = sha256('/var/lib/dpkg/status')
  const root = tempDir('tscni-deb-root-')
  const admin = join(root, 'var/lib/dpkg')
  for (const d of ['info', 'updates', 'triggers']) mkdirSync(join(admin, d), { recursive: true })
  writeFileSync(join(admin, 'status'), '')
  writeFileSync(join(admin, 'available'), '')
  // --root: files and database under the throwaway root. Scripts run without chroot (the root has no shell), with
  // DPKG_ROOT set so the postinst runs the root's own tscni. Dependencies are the machine's, not in that database.
  const install = await execa('dpkg', ['--root', root, '--force-script-chrootless', '--force-depends', '--force-not-root', '--log', join(root, 'dpkg.log'), '--install', rel.deb], { reject: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
  expect(install.exitCode, `${install.stdout}\n${install.stderr}`).toBe(0)
  // The postinst ran doctor (its report is on the output) and its findings did not fail the installation.
  expect(`${install.stdout}${install.stderr}`).toMatch(/privileges|firewall|forwarding/i)
  expect(sha256('/var/lib/dpkg/status'), 'the machine\'s package database is untouched').toBe(statusBefore)
  expect(readFileSync(join(admin, 'status'), 'utf8')).toMatch(/^Package: tscni\nStatus: install ok installed$/m)
  const exe = join(root, 'usr/bin/tscni')
  expect(readlinkSync(join(root, 'usr/lib/cni/tscni-bridge'))).toBe('tscni')
  const version = await execa(exe, ['version'])
  expect(version.stdout).toContain(`tscni ${rel.version}`)
  expect(version.stdout).toContain('(single executable)')
  const doctor = await execa(exe, ['doctor', '--json', '--data-dir', join(root, 'var/lib/cni/networks'), '--conf-dir', join(root, 'etc/cni/net.d'), '--cache-dir', join(root, 'var/lib/cni'), '--state-dir', join(root, 'var/lib/tscni/attachments')], { reject: false })
  expect([0, 1], String(doctor.stderr)).toContain(doctor.exitCode)
  const report = JSON.parse(String(doctor.stdout))
  expect(JSON.stringify(report)).toMatch(/iptables|nftables/)
  expect(existsSync(join(dirname(exe), '..', 'lib/cni/tscni'))).toBe(true)
  expect(readdirSync(join(root, 'lib/systemd/system')).sort()).toEqual(['tscni-boot-reconcile.service', 'tscni-node.service', 'tscni-reconcile.service'])
}, 120_000)
