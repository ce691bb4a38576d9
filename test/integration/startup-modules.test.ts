// What a call loads at start-up: Node's built-ins that cost milliseconds to load (node:crypto, node:v8, node:net,
// node:stream, node:child_process, node:perf_hooks) stay unloaded by a call that does not use them. The built
// bundle (dist/sea/main.cjs with its code cache) runs the way the executable's loader runs it, under a harness
// that reports process.moduleLoadList at exit; the harness's own modules are subtracted with an empty bundle.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'

const SEA_DIR = resolve('dist/sea')
const dir = mkdtempSync(join(tmpdir(), 'tscni-startup-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// Named "bridge" so the bundle takes it for that role; writes the internal modules loaded so far to fd 3.
const harness = (bundle: string) => `'use strict'
const vm = require('node:vm')
const fs = require('node:fs')
process.on('exit', () => fs.writeSync(3, JSON.stringify(process.moduleLoadList)))
const source = ${bundle === 'empty' ? "''" : `fs.readFileSync(${JSON.stringify(join(SEA_DIR, 'main.cjs'))}, 'utf8')`}
const cachedData = ${bundle === 'empty' ? 'undefined' : `fs.readFileSync(${JSON.stringify(join(SEA_DIR, 'main.cache'))})`}
const script = new vm.Script('(function (exports, require, module) {' + source + '\\n})', { filename: 'tscni.cjs', cachedData })
globalThis.__tscniCodeCache = 'accepted'
const mod = { exports: {} }
script.runInThisContext()(mod.exports, require, mod)
`

async function loadedBy(bundle: 'empty' | 'tscni', env: Record<string, string>, stdin = ''): Promise<{ modules: Set<string>; stdout: string }> {
  const sub = mkdtempSync(join(dir, `${bundle}-`))
  const file = join(sub, 'bridge')
  writeFileSync(file, harness(bundle))
  const res = await execa(process.execPath, [file], {
    env: { PATH: '/usr/bin:/bin', ...env }, extendEnv: false, input: stdin, reject: false, stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  })
  const report = res.stdio[3] as string
  expect(report, `harness reported nothing; stderr: ${res.stderr}`).not.toBe('')
  return { modules: new Set(JSON.parse(report) as string[]), stdout: res.stdout as string }
}

const COSTLY = ['crypto', 'v8', 'net', 'stream', 'child_process', 'perf_hooks'].map((m) => `NativeModule ${m}`)

describe('start-up loads only what a call uses', () => {
  it('VERSION and a refused config load none of the costly built-ins', async () => {
    const baseline = await loadedBy('empty', { CNI_COMMAND: 'VERSION' })
    const calls: { env: Record<string, string>; stdin: string; expectOut: RegExp }[] = [
      { env: { CNI_COMMAND: 'VERSION' }, stdin: '', expectOut: /supportedVersions/ },
      { env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
        stdin: '{"cniVersion":"1.0.0","name":"n","type":"bridge","mtu":"big"}', expectOut: /"code": ?\d+/ },
    ]
    for (const call of calls) {
      const run = await loadedBy('tscni', call.env, call.stdin)
      expect(run.stdout).toMatch(call.expectOut)
      // The harness itself must not have loaded them, or the check would prove nothing.
      for (const m of COSTLY) expect(baseline.modules.has(m), `${m} in the harness baseline`).toBe(false)
      const extra = [...run.modules].filter((m) => !baseline.modules.has(m))
      expect(extra.filter((m) => COSTLY.includes(m))).toEqual([])
    }
  })
})
