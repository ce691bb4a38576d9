// `tscni install` against what could make it replace the wrong file or install where others can swap it, through
// the real single executable: a shell script mentioning the marker is foreign, a 0777 bin dir (or parent) is refused
// unless --force, and during a reinstall every role link resolves at every moment.
import { execa } from 'execa'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { binDir } from '../support/run-plugin.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-install-hard-'))
  dirs.push(dir)
  return dir
}
const tscni = () => join(binDir(), 'tscni')

describe('tscni install hardening', () => {
  it('a shell script that mentions the marker is not taken for tscni: a conflict, left as it was', async () => {
    const dir = tempDir()
    const script = '#!/bin/sh\n# wrapper; see tscni-multicall-executable-marker-v1\nexec /usr/lib/cni/bridge "$@"\n'
    writeFileSync(join(dir, 'bridge'), script, { mode: 0o755 })
    writeFileSync(join(dir, 'tscni'), script, { mode: 0o755 })
    const res = await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names'], { reject: false })
    expect(res.exitCode).toBe(1)
    expect(res.stderr).toContain(`refusing to replace files that are not tscni:\n  ${join(dir, 'tscni')}\n  ${join(dir, 'bridge')}\n`)
    expect(readFileSync(join(dir, 'bridge'), 'utf8')).toBe(script)
    expect(readFileSync(join(dir, 'tscni'), 'utf8')).toBe(script)
  })

  it('refuses a 0777 bin dir and a bin dir under a 0777 parent, naming the directory; --force overrides', async () => {
    const open = join(tempDir(), 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    const res = await execa(tscni(), ['install', '--bin-dir', open], { reject: false })
    expect(res.exitCode).toBe(1)
    expect(res.stderr).toContain(`refusing to install into ${open}`)
    expect(res.stderr).toContain(`${open} is writable by group or others (mode 0777)`)
    expect(existsSync(join(open, 'tscni'))).toBe(false)
    const below = await execa(tscni(), ['install', '--bin-dir', join(open, 'bin')], { reject: false })
    expect(below.exitCode).toBe(1)
    expect(below.stderr).toContain(`${open} is writable by group or others (mode 0777)`)
    expect(existsSync(join(open, 'bin'))).toBe(false)
    await execa(tscni(), ['install', '--bin-dir', open, '--force'])
    expect(readlinkSync(join(open, 'tscni-bridge'))).toBe('tscni')
  })

  it('a reinstall replaces every role link atomically: a reader racing it never finds one missing', async () => {
    const dir = tempDir()
    await execa(tscni(), ['install', '--bin-dir', dir, '--standard-names'])
    const names = ['tscni-bridge', 'tscni-host-local', 'tscni-portmap', 'tscni-loopback', 'tscni-dnsname', 'bridge', 'host-local', 'portmap', 'loopback', 'dnsname']
    const stop = join(dir, '.stop')
    // A reader in its own process, spinning readlink over every name until told to stop; it prints what it missed.
    const reader = spawn(process.execPath, ['-e', `
      const fs = require('node:fs')
      const names = ${JSON.stringify(names.map((n) => join(dir, n)))}
      let reads = 0, missing = 0
      while (!fs.existsSync(${JSON.stringify(stop)})) {
        for (const n of names) { reads++; try { fs.readlinkSync(n) } catch { missing++ } }
      }
      process.stdout.write(JSON.stringify({ reads, missing }))
    `])
    let out = ''
    reader.stdout.on('data', (d: Buffer) => void (out += d.toString()))
    const exited = new Promise<void>((r) => reader.on('exit', () => r()))
    for (let i = 0; i < 15; i++) await execa(join(dir, 'tscni'), ['install', '--bin-dir', dir, '--standard-names'])
    writeFileSync(stop, '')
    await exited
    const { reads, missing } = JSON.parse(out) as { reads: number; missing: number }
    expect(reads).toBeGreaterThan(1000)
    expect(missing).toBe(0)
    expect(names.map((n) => readlinkSync(join(dir, n)))).toEqual(names.map(() => 'tscni'))
  }, 60_000)
})
