// What the environment a runtime passes cannot make the shipped executable do, through dist/tscni itself: run code
// preloaded through NODE_OPTIONS, or run a bundle and write a code cache named by TSCNI_TRAIN_DIR (the build's
// training switch, absent from the shipped loader). VERSION still answers with both set.
import { execa } from 'execa'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { binDir } from '../support/run-plugin.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tscni-env-trust-'))
  dirs.push(dir)
  return dir
}

describe('the shipped executable and its environment', () => {
  it('NODE_OPTIONS=--require=<file> does not run the file', async () => {
    const dir = tempDir()
    const proof = join(dir, 'preloaded')
    writeFileSync(join(dir, 'evil.js'), `require('node:fs').writeFileSync(${JSON.stringify(proof)}, 'ran')\n`)
    for (const options of [`--require=${join(dir, 'evil.js')}`, `--import=${join(dir, 'evil.js')}`]) {
      const res = await execa(join(binDir(), 'tscni-bridge'), [], { env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: options }, extendEnv: false, reject: false })
      expect(res.exitCode).toBe(0)
      expect(JSON.parse(res.stdout).cniVersion).toBe('1.1.0')
      expect(existsSync(proof)).toBe(false)
    }
  })

  it('TSCNI_TRAIN_DIR with a main.cjs neither runs it nor writes a main.cache there', async () => {
    const dir = tempDir()
    const proof = join(dir, 'trained')
    writeFileSync(join(dir, 'main.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(proof)}, 'ran')\n`)
    const res = await execa(join(binDir(), 'tscni-bridge'), [], { env: { CNI_COMMAND: 'VERSION', TSCNI_TRAIN_DIR: dir }, extendEnv: false, reject: false })
    expect(res.exitCode).toBe(0)
    expect(JSON.parse(res.stdout).cniVersion).toBe('1.1.0')
    expect(existsSync(proof)).toBe(false)
    expect(existsSync(join(dir, 'main.cache'))).toBe(false)
  })

  it('the code cache is still accepted (start-up unchanged)', async () => {
    const res = await execa(join(binDir(), 'tscni-bridge'), [], { env: { CNI_COMMAND: 'VERSION', TSCNI_LOG_LEVEL: 'debug' }, extendEnv: false })
    expect(res.stderr).toContain('start-up: code cache accepted')
  })
})
