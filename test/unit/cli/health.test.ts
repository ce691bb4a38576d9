// --health-addr parsing, the health server's HTTP answers, reconcile --watch's probes, and install --conflist's
// validation and atomic write.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseHealthAddr, takeHealthArgs } from '../../../src/cli/health-addr.ts'
import { startHealthServer } from '../../../src/cli/health-server.ts'
import { conflistProblem, writeConfigAtomically } from '../../../src/cli/install-conflist.ts'
import { createReconcileHealth } from '../../../src/cli/reconcile-health.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('--health-addr', () => {
  it('takes IPv4:PORT and [IPv6]:PORT, nothing else', () => {
    expect(parseHealthAddr('127.0.0.1:9099')).toEqual({ host: '127.0.0.1', port: 9099 })
    expect(parseHealthAddr('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseHealthAddr('localhost:9099')).toMatch(/IP:PORT.*got "localhost:9099"/)
    expect(parseHealthAddr('::1:9099')).toMatch(/IP:PORT/)
    expect(parseHealthAddr('127.0.0.1:70000')).toMatch(/port must be 0 to 65535/)
  })
  it('takes its options out of an argument list and leaves the rest in order', () => {
    expect(takeHealthArgs(['--a', 'x', '--health-addr', '127.0.0.1:1', '--b', '--ready-file=/r'], ['--health-addr', '--ready-file']))
      .toEqual({ rest: ['--a', 'x', '--b'], values: { '--health-addr': '127.0.0.1:1', '--ready-file': '/r' } })
    expect(takeHealthArgs(['--health-addr'], ['--health-addr'])).toBe('--health-addr needs a value')
  })
})

describe('health server', () => {
  it('answers /healthz and /readyz with the probes\' verdicts as 200/503 JSON, 404 elsewhere, 405 for POST', async () => {
    let ready = false
    const server = await startHealthServer({ host: '127.0.0.1', port: 0 }, {
      healthz: () => ({ ok: true, body: { status: 'alive' } }),
      readyz: async () => ({ ok: ready, body: { status: ready ? 'ready' : 'not ready' } }),
    })
    try {
      const get = async (path: string, method = 'GET') => {
        const r = await fetch(`http://${server.address}${path}`, { method })
        return [r.status, await r.json()] as const
      }
      expect(await get('/healthz')).toEqual([200, { status: 'alive' }])
      expect(await get('/readyz')).toEqual([503, { status: 'not ready' }])
      ready = true
      expect(await get('/readyz')).toEqual([200, { status: 'ready' }])
      expect((await get('/metrics'))[0]).toBe(404)
      expect((await get('/readyz', 'POST'))[0]).toBe(405)
    } finally {
      await server.close()
    }
  })
})

describe('reconcile --watch probes', () => {
  it('alive from the start; ready only while the last pass succeeded', () => {
    const h = createReconcileHealth(() => new Date('2026-01-01T00:00:00Z'))
    expect(h.healthz()).toMatchObject({ ok: true })
    expect(h.readyz()).toMatchObject({ ok: false, body: { problems: ['no pass yet'] } })
    h.passed({ failed: false, text: '2 live attachment record(s): 2 rule set(s) in place\n' })
    expect(h.readyz()).toMatchObject({ ok: true, body: { status: 'ready', summary: '2 live attachment record(s): 2 rule set(s) in place' } })
    h.passed({ failed: true, text: 'FAILED restore x: boom\nsummary\n' })
    expect(h.readyz()).toMatchObject({ ok: false, body: { problems: ['FAILED restore x: boom'] } })
  })
})

describe('install --conflist', () => {
  const good = JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'tscni-bridge' }] })
  it('accepts a config list and names the field that is wrong otherwise', () => {
    expect(conflistProblem(good)).toBeUndefined()
    expect(conflistProblem('{"name":')).toMatch(/^not JSON/)
    expect(conflistProblem('[]')).toBe('a config list is a JSON object')
    expect(conflistProblem('{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}')).toBe('field "name" must be a non-empty string')
    expect(conflistProblem('{"cniVersion":"1.0.0","name":"n","plugins":[]}')).toBe('field "plugins" must be a non-empty list')
    expect(conflistProblem('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":1}]}')).toBe('plugins[0].type must be a string')
  })
  it('writes through a hidden temporary name in the same dir, leaves none behind, and skips an identical file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tscni-conflist-'))
    dirs.push(dir)
    const target = join(dir, '10-n.conflist')
    writeFileSync(target, 'old')
    expect(await writeConfigAtomically(dir, target, good)).toBe(true)
    expect(readFileSync(target, 'utf8')).toBe(good)
    expect(readdirSync(dir)).toEqual(['10-n.conflist'])
    expect(await writeConfigAtomically(dir, target, good)).toBe(false)
  })
})
