// File-system failures become CNI errors by errno: code 11 for what clears up by itself, 5 for the rest, with
// the call, the path and the cause in the message; never the message text of the thrown error.
import { describe, expect, it } from 'vitest'
import { fileError, normalizeError } from '../../../src/plugin/errors.ts'
import { classifyErrno, errnoOf, hasErrno } from '../../../src/plugin/fs-errors.ts'

function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  // The message is deliberately misleading: classification must not read it.
  return Object.assign(new Error(`${code === 'EROFS' ? 'ENOSPC' : 'EROFS'}: lies`), { code, syscall, path })
}

describe('classifyErrno', () => {
  it.each([
    ['EROFS', 'read-only file system', 5],
    ['ENOSPC', 'no space left on device', 11],
    ['EDQUOT', 'disk quota exceeded', 11],
    ['EACCES', 'permission denied', 5],
    ['EPERM', 'operation not permitted', 5],
    ['ENOTDIR', 'not a directory', 5],
    ['EISDIR', 'is a directory', 5],
    ['EMFILE', 'too many open files', 11],
    ['EWHATEVER', 'ewhatever', 5],
  ])('%s is "%s" with code %i', (code, cause, cni) => {
    expect(classifyErrno(code)).toEqual({ cause, code: cni })
  })
})

describe('fileError and normalizeError', () => {
  it('names what failed, the call, the path and the cause; the errno goes to details', () => {
    const err = fileError('failed to create the data directory /d/net', '/d/net', errno('EROFS', 'mkdir', '/d'))
    expect(err).toMatchObject({ code: 5, message: 'failed to create the data directory /d/net: mkdir /d: read-only file system', details: 'EROFS' })
  })

  it('uses the given path when the error has none (a write on a descriptor)', () => {
    const e = Object.assign(new Error('x'), { code: 'ENOSPC', syscall: 'write' })
    expect(fileError('failed to reserve 10.0.0.2', '/d/net/10.0.0.2', e).message).toBe('failed to reserve 10.0.0.2: write /d/net/10.0.0.2: no space left on device')
  })

  it('normalises any errno error thrown anywhere into its code and Go-style text instead of 999', () => {
    expect(normalizeError(errno('ENOSPC', 'open', '/s/x.tmp'))).toMatchObject({ code: 11, message: 'open /s/x.tmp: no space left on device' })
    expect(normalizeError(new Error('plain')).code).toBe(999)
  })

  it('passes a non-errno error through normalisation', () => {
    expect(fileError('ctx', '/p', new Error('boom'))).toMatchObject({ code: 999, message: 'boom' })
    expect(errnoOf({ code: 42 })).toBeUndefined()
    expect(hasErrno(errno('EEXIST', 'open', '/p'), 'EEXIST')).toBe(true)
  })
})
