// The tscni command for people, through the real single executable: version without node, install and its guards.
import { execa } from 'execa'
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { binDir } from '../support/run-plugin.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-install-'))
  dirs.push(dir)
  return dir
}
const tscni = () => join(binDir(), 'tscni')

describe('tscni version', () => {
  it('runs with an empty environment: no node on PATH is needed', async () => {
    const res = await execa('env', ['-i', tscni(), 'version'])
    expect(res.stdout).toMatch(/^tscni \d+\.\d+\.\d+\nCNI spec versions: 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\nruntime: Node 24\./)
  })

  it('answers VERSION as a plugin with an empty environment but CNI_COMMAND', async () => {
    const res = await execa('env', ['-i', 'CNI_COMMAND=VERSION', join(binDir(), 'tscni-bridge')])
    expect(JSON.parse(res.stdout).supportedVersions).toHaveLength(7)
  })
})

describe('tscni install', () => {
  it('copies the executable and links the tscni-* role names', async () => {
    const dir = tempDir()
    const res = await execa(tscni(), ['install', '--bin-dir', join(dir, 'bin')])
    expect(res.stdout).toContain(`installed ${join(dir, 'bin', 'tscni')}`)
    for (const name of ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback']) {
      expect(readlinkSync(join(dir, 'bin', name))).toBe('tscni')
    }
    expect(existsSync(join(dir, 'bin', 'bridge'))).toBe(false)
    const version = await execa(join(dir, 'bin', 'tscni-host-local'), [], { env: { CNI_COMMAND: 'VERSION' } })
    expect(JSON.parse(version.stdout).cniVersion).toBe('1.1.0')
  })

  it('with --standard-names also links bridge, host-local, portmap and loopback', async () => {
    const dir = tempDir()
    await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names'])
    for (const name of ['bridge', 'host-local', 'portmap', 'loopback']) expect(readlinkSync(join(dir, name))).toBe('tscni')
  })

  it('refuses to replace a file that is not tscni, lists every conflict, and changes nothing', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'bridge'), '#!/bin/sh\necho reference\n', { mode: 0o755 })
    writeFileSync(join(dir, 'portmap'), 'other', { mode: 0o755 })
    const res = await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names'], { reject: false })
    expect(res.exitCode).toBe(1)
    expect(res.stderr).toContain(join(dir, 'bridge'))
    expect(res.stderr).toContain(join(dir, 'portmap'))
    expect(res.stderr).toContain('--force')
    expect(readFileSync(join(dir, 'bridge'), 'utf8')).toBe('#!/bin/sh\necho reference\n')
    expect(existsSync(join(dir, 'tscni'))).toBe(false)
  })

  it('--force replaces foreign files', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'bridge'), 'other', { mode: 0o755 })
    await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names', '--force'])
    expect(lstatSync(join(dir, 'bridge')).isSymbolicLink()).toBe(true)
  })

  it('installing again over its own files needs no --force', async () => {
    const dir = tempDir()
    await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names'])
    const again = await execa(join(dir, 'tscni'), ['install', '--bin-dir', dir, '--standard-names'])
    expect(again.stdout).toContain('is already this executable')
  })

  it('a usage error exits 2', async () => {
    const res = await execa(tscni(), ['install'], { reject: false })
    expect(res.exitCode).toBe(2)
    expect(res.stderr).toContain('--bin-dir DIR is required')
  })
})
