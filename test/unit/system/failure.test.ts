// system/failure.ts: the one classifier of command failures — tools' stderr and errno numbers to one reason.
import { describe, expect, it } from 'vitest'
import { classifyFailure, reasonFromErrno, reasonFromStderr } from '../../../src/system/failure.ts'
import { SystemError } from '../../../src/system/errors.ts'
import { isExists, isNoDevice } from '../../../src/system/ip.ts'
import { normalizeError } from '../../../src/plugin/errors.ts'

describe('reasonFromStderr', () => {
  it.each([
    ['RTNETLINK answers: File exists\nCommand failed -:3', 'exists'],
    ['Error: ipv4: Address already assigned.\nCommand failed -:2', 'exists'],
    ['Cannot find device "veth0"\nCommand failed -:1', 'no-device'],
    ['Device "cni9" does not exist.', 'no-device'],
    ['RTNETLINK answers: No such device', 'no-device'],
    ['Error: No such file or directory; did you mean table \'tscni_hostport\' in family inet?\nlist table inet x', 'not-found'],
    ['conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.', 'not-found'],
    ['RTNETLINK answers: Operation not permitted', 'permission'],
    ['RTNETLINK answers: Invalid argument', 'invalid'],
    ['RTNETLINK answers: Operation not supported', 'not-supported'],
    ['RTNETLINK answers: Device or resource busy', 'busy'],
    ['Error: syntax error, unexpected newline', 'other'],
    ['', 'other'],
  ])('%j is %s', (stderr, reason) => {
    expect(reasonFromStderr(stderr)).toBe(reason)
  })
})

describe('reasonFromErrno', () => {
  it('maps errno numbers (netlink reports them negated) and names into the same reasons', () => {
    expect([17, -17, 'EEXIST'].map(reasonFromErrno)).toEqual(['exists', 'exists', 'exists'])
    expect([19, -6, 2, 11, 'EWOULDBLOCK', 1, 13, 22, 95, 16, 110].map(reasonFromErrno))
      .toEqual(['no-device', 'no-device', 'not-found', 'again', 'again', 'permission', 'permission', 'invalid', 'not-supported', 'busy', 'timed-out'])
    expect([99999, 'ENOSPC'].map(reasonFromErrno)).toEqual(['other', 'other'])
  })
})

describe('classifyFailure and SystemError.reason', () => {
  it('how the command ended comes before what it printed', () => {
    expect(classifyFailure({ exitCode: 1, stderr: 'File exists', timedOut: true })).toBe('timed-out')
    expect(classifyFailure({ exitCode: undefined, stderr: '' })).toBe('cannot-run')
    expect(classifyFailure({ exitCode: 2, stderr: 'RTNETLINK answers: File exists' })).toBe('exists')
  })

  it('is parsed once, or given by the thrower', () => {
    expect(new SystemError({ cmd: 'ip', args: [], exitCode: 2, stderr: 'RTNETLINK answers: File exists' }).reason).toBe('exists')
    const given = new SystemError({ cmd: 'flock', args: [], exitCode: 1, reason: 'again', message: 'timed out' })
    expect(given.reason).toBe('again')
    expect(given.timedOut).toBe(false)
    expect(new SystemError({ cmd: 'ip', args: [], stderr: '', timedOut: true }).timedOut).toBe(true)
  })

  it('ip reads the reason, not the text', () => {
    expect(isExists(new SystemError({ cmd: 'ip', args: [], exitCode: 2, reason: 'exists' }))).toBe(true)
    expect(isExists(new SystemError({ cmd: 'ip', args: [], exitCode: 2, stderr: 'Cannot find device "x"' }))).toBe(false)
    expect(isNoDevice(new SystemError({ cmd: 'ip', args: [], exitCode: 1, stderr: 'Device "x" does not exist.' }))).toBe(true)
    expect(isExists(new Error('File exists'))).toBe(false)
  })
})

describe('normalizeError: the one path from a lock wait that ran out to code 11', () => {
  it('reason again is 11 with the lock\'s message; other command failures are 999', () => {
    const lock = new SystemError({ cmd: 'flock', args: ['/run/tscni-firewall.lock'], exitCode: 1, reason: 'again', message: 'timed out after 20000 ms waiting for the lock /run/tscni-firewall.lock' })
    expect(normalizeError(lock)).toMatchObject({ code: 11, message: 'timed out after 20000 ms waiting for the lock /run/tscni-firewall.lock', details: 'flock /run/tscni-firewall.lock' })
    expect(normalizeError(new SystemError({ cmd: 'ip', args: ['-batch', '-'], exitCode: 2, stderr: 'RTNETLINK answers: File exists' })).code).toBe(999)
    expect(normalizeError(new SystemError({ cmd: 'nft', args: [], stderr: '', timedOut: true })).code).toBe(999)
  })
})
