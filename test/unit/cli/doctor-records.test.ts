// doctor's judgement of tscni's attachment records: missing rules of live attachments fail with the remedy
// `tscni reconcile`; dead attachments and unreadable records warn; all in place is ok.
import { describe, expect, it } from 'vitest'
import { doctorChecks, exitCodeOf } from '../../../src/cli/doctor-checks.ts'
import { healthy } from './doctor-helpers.ts'

const records = (o: Partial<{ live: number; missing: string[]; stale: string[]; problems: string[] }> = {}) =>
  ({ stateDir: '/state', live: 2, missing: [], stale: [], problems: [], ...o })

describe('doctor and attachment records', () => {
  it('every rule in place: ok, and the node stays healthy', () => {
    const checks = doctorChecks(healthy({ records: records() }))
    expect(checks.find((c) => c.check === 'live rules')).toMatchObject({ status: 'ok' })
    expect(exitCodeOf(checks)).toBe(0)
  })

  it('missing rules of a live attachment: fail, naming it, remedy tscni reconcile', () => {
    const checks = doctorChecks(healthy({ records: records({ missing: ['host ports of portmap net/c1/eth0 (nftables)'] }) }))
    const c = checks.find((x) => x.check === 'live rules')!
    expect(c.status).toBe('fail')
    expect(c.detail).toContain('host ports of portmap net/c1/eth0 (nftables)')
    expect(c.remedy).toMatch(/^tscni reconcile/)
    expect(exitCodeOf(checks)).toBe(1)
  })

  it('dead attachments and unreadable records warn with what to do', () => {
    const checks = doctorChecks(healthy({ records: records({ stale: ['bridge net/c2/eth0'], problems: ['/state/x.json: not JSON'] }) }))
    expect(checks.find((c) => c.check === 'dead attachments')).toMatchObject({ status: 'warn', remedy: expect.stringMatching(/^tscni reconcile/) })
    expect(checks.find((c) => c.check === 'attachment records')).toMatchObject({ status: 'warn', detail: '/state/x.json: not JSON' })
  })
})
