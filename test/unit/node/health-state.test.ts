// The node agent's health state: ready only with a lease, a successful pass and the conflist on disk; the
// readiness file follows readiness (with this boot's id) and the bridge's STATUS reads it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { assertNodeReady } from '../../../src/bridge/readiness.ts'
import { createAgentHealth } from '../../../src/node/health-state.ts'
import { decodeNetConf } from '../../../src/plugin/config.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tscni-health-'))
  dirs.push(d)
  return d
}
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()

describe('agent health', () => {
  it('turns ready after lease, pass and conflist; a lost lease or a failed pass makes it not ready again', async () => {
    const dir = tempDir()
    const conflist = join(dir, '10-x.conflist')
    const readyFile = join(dir, 'ready')
    const h = createAgentHealth({ conflist, readyFile })
    expect(await h.readyz()).toMatchObject({ ok: false, body: { problems: ['no subnet lease yet', 'no reconcile pass yet', `CNI config ${conflist} is missing`] } })
    h.leased('42', '10.1.2.0/24')
    await h.reconciled()
    expect(await h.readyz()).toMatchObject({ ok: false, body: { problems: [`CNI config ${conflist} is missing`] } })
    writeFileSync(conflist, '{}')
    expect(await h.readyz()).toMatchObject({ ok: true, body: { status: 'ready', subnet: '10.1.2.0/24', lease: '42' } })
    expect(readFileSync(readyFile, 'utf8').trim()).toBe(bootId())
    h.leaseLost('lease 42 expired')
    expect(await h.readyz()).toMatchObject({ ok: false, body: { problems: ['lease 42 expired'] } })
    await h.reconcileFailed('x')
    expect(existsSync(readyFile)).toBe(false)
    h.leased('43', '10.1.2.0/24')
    expect((await h.readyz()).ok, 'a new lease waits for its first pass').toBe(false)
    await h.reconciled()
    expect((await h.readyz()).ok).toBe(true)
    await h.reconcileFailed('reconcile (resync) failed: boom')
    expect(await h.readyz()).toMatchObject({ ok: false, body: { problems: ['reconcile (resync) failed: boom'] } })
    expect(existsSync(readyFile)).toBe(false)
  })
  it('stays alive when etcd goes away, and says since when and why', () => {
    let t = new Date('2026-01-01T00:00:00Z')
    const h = createAgentHealth({ conflist: '/nonexistent', readyFile: '/nonexistent/ready', now: () => t })
    h.etcdUp()
    expect(h.healthz()).toMatchObject({ ok: true, body: { etcdReachable: true, etcd: 'reachable since 2026-01-01T00:00:00.000Z' } })
    t = new Date('2026-01-01T00:01:00Z')
    h.etcdDown('connect ECONNREFUSED')
    t = new Date('2026-01-01T00:02:00Z')
    h.etcdDown('connect ECONNREFUSED')
    expect(h.healthz()).toMatchObject({ ok: true, body: { etcdReachable: false, etcd: 'unreachable since 2026-01-01T00:01:00.000Z: connect ECONNREFUSED' } })
  })
})

describe('bridge readinessFile (STATUS)', () => {
  const conf = (readinessFile?: string) => decodeNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridge', ...(readinessFile ? { readinessFile } : {}) }), 'STATUS')
  it('code 50 while the file is missing or from another boot; nothing without the option', async () => {
    const file = join(tempDir(), 'ready')
    await expect(assertNodeReady(conf())).resolves.toBeUndefined()
    await expect(assertNodeReady(conf(file))).rejects.toMatchObject({ code: 50, message: expect.stringContaining(`has not made this node's network ready yet (no ${file})`) })
    writeFileSync(file, '00000000-0000-0000-0000-000000000000\n')
    await expect(assertNodeReady(conf(file))).rejects.toMatchObject({ code: 50, message: expect.stringContaining('written before the last reboot') })
    writeFileSync(file, `${bootId()}\n`)
    await expect(assertNodeReady(conf(file))).resolves.toBeUndefined()
  })
})
