// The native addon's C (src/native/tscni-native.c), compiled here with the flags build.mjs uses, and loaded:
// argument checks, errno-bearing errors, flock contention, opening a file and a netlink socket in this namespace,
// and paths that do not fit or hold a NUL refused whole.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LOCK_EX, LOCK_NB, LOCK_UN, type Native } from '../../../src/system/native.ts'

let dir = ''
let native: Native

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-native-test-'))
  const file = join(dir, 'tscni-native.node')
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-I', 'node_modules/node-api-headers/include', '-o', file, 'src/native/tscni-native.c'])
  const mod = { exports: {} as Native }
  process.dlopen(mod, file)
  native = mod.exports
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('tscni-native', () => {
  it('exposes exactly its three functions', () => {
    expect(Object.keys(native).sort()).toEqual(['flock', 'netlinkSocket', 'openInNetns'])
  })

  it('flock: a second description of a locked file gets EAGAIN without blocking, and the lock after unlock', () => {
    const path = join(dir, 'lock')
    writeFileSync(path, '')
    const a = openSync(path, 'r')
    const b = openSync(path, 'r')
    try {
      native.flock(a, LOCK_EX | LOCK_NB)
      let err: { code?: string; errno?: number } | undefined
      try {
        native.flock(b, LOCK_EX | LOCK_NB)
      } catch (e) {
        err = e as typeof err
      }
      expect(err).toMatchObject({ code: 'EAGAIN', errno: -11 })
      native.flock(a, LOCK_UN)
      native.flock(b, LOCK_EX | LOCK_NB)
    } finally {
      closeSync(a)
      closeSync(b)
    }
  })

  it('flock on a closed descriptor says EBADF; wrong argument types are TypeErrors', () => {
    expect(() => native.flock(987654, LOCK_EX)).toThrow(expect.objectContaining({ code: 'EBADF', errno: -9 }))
    expect(() => (native.flock as unknown as (a: string) => void)('x')).toThrow(TypeError)
    expect(() => (native.openInNetns as unknown as (a: null, b: number, c: number) => void)(null, 1, 0)).toThrow(TypeError)
  })

  it('openInNetns(null) opens a file in this namespace; a missing one is ENOENT naming the path, a missing namespace too', () => {
    const fd = native.openInNetns(null, '/proc/sys/net/ipv4/ip_forward', 0)
    const buf = Buffer.alloc(8)
    const n = readSync(fd, buf)
    closeSync(fd)
    expect(buf.subarray(0, n).toString().trim()).toMatch(/^[01]$/)
    expect(() => native.openInNetns(null, '/proc/sys/net/nope', 0)).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('/proc/sys/net/nope') }))
    expect(() => native.openInNetns('/nonexistent/netns', '/proc/sys/net/ipv4/ip_forward', 0)).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('/nonexistent/netns') }))
  })

  it('netlinkSocket(null, NETLINK_ROUTE) is a socket descriptor; an unknown protocol is EPROTONOSUPPORT', () => {
    const fd = native.netlinkSocket(null, 0)
    expect(fd).toBeGreaterThan(2)
    closeSync(fd)
    expect(() => native.netlinkSocket(null, 4242)).toThrow(expect.objectContaining({ code: 'EPROTONOSUPPORT' }))
  })
})

describe('tscni-native path arguments', () => {
  // napi_get_value_string_utf8 never writes half a UTF-8 sequence: 4094 bytes and a 2-byte 'é' used to come back as
  // the 4094 bytes alone, a different, existing path.
  const prefix = `${'/'.repeat(4094 - '/etc/hostname'.length)}/etc/hostname`

  it('a path cut at a UTF-8 boundary is ENAMETOOLONG, never the shorter file, as Node says', () => {
    expect(Buffer.byteLength(prefix)).toBe(4094)
    const long = `${prefix}é`
    expect(() => openSync(long, 'r')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }))
    expect(() => native.openInNetns(null, long, 0)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }))
    expect(() => native.openInNetns(long, '/proc/sys/net/ipv4/ip_forward', 0)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }))
    expect(() => native.netlinkSocket(long, 0)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }))
    // Exactly as long as the buffer (NUL included) is too long as well; one byte less still opens.
    expect(() => native.openInNetns(null, `${prefix}xx`, 0)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }))
    closeSync(native.openInNetns(null, `/${prefix}`, 0))
  })

  it('a path with an embedded NUL is EINVAL, never the part before it', () => {
    expect(() => native.openInNetns(null, '/etc/hostname\u0000.evil', 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }))
    expect(() => native.netlinkSocket('/proc/self/ns/net\u0000x', 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }))
    expect(() => native.openInNetns(null, '', 0)).toThrow(TypeError)
  })
})
