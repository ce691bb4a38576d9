import { describe, expect, it } from 'vitest'
import { invocationLine } from '../../../src/plugin/invocation-log.ts'
import { silentLogger } from '../../../src/plugin/log.ts'

describe('invocationLine', () => {
  it('holds role, verb, ids, outcome and step timings', () => {
    const line = invocationLine({
      env: {},
      role: 'bridge',
      record: { verb: 'ADD', containerId: 'c1', ifname: 'eth0', network: 'net', cniVersion: '1.0.0', addresses: ['10.0.0.2/24'] },
      steps: [{ name: 'ipam', ms: 1.5, ok: true }],
      totalMs: 12.345,
      log: silentLogger,
      now: new Date('2026-01-02T03:04:05Z'),
    })
    expect(line).toEqual({
      time: '2026-01-02T03:04:05.000Z', role: 'bridge', verb: 'ADD', containerId: 'c1', ifname: 'eth0', network: 'net', cniVersion: '1.0.0',
      outcome: 'ok', addresses: ['10.0.0.2/24'], ms: 12.35, steps: [{ name: 'ipam', ms: 1.5, ok: true }],
    })
  })

  it('records the error code and message of a failed verb', () => {
    const line = invocationLine({ env: {}, role: 'portmap', record: { verb: 'DEL', error: { code: 7, msg: 'bad' } }, steps: [], totalMs: 1, log: silentLogger })
    expect(line).toMatchObject({ outcome: 'error', error: { code: 7, msg: 'bad' } })
  })
})
