// system/native.ts's loader (fake sources: no asset, a failing dlopen, a read-only temp dir) and lock.ts's
// in-process locker over a fake addon whose flock answers EAGAIN as a held lock would.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SystemError } from '../../../src/system/errors.ts'
import { createLocker } from '../../../src/system/lock.ts'
import { LOCK_EX, LOCK_NB, loadNative, safeTempBase, type Native } from '../../../src/system/native.ts'
import type { Exec } from '../../../src/system/exec.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-native-unit-'))
  dirs.push(d)
  return d
}

const fakeAddon = (flock: Native['flock']): Native => ({ netlinkSocket: () => -1, openInNetns: () => -1, flock })
const noExec: Exec = { run: () => Promise.reject(new Error('flock(1) must not run when the addon is there')) }

describe('loadNative', () => {
  it('loads through dlopen from a private temp dir it removes again', () => {
    const base = tmp()
    let loadedFrom = ''
    const res = loadNative({
      bytes: () => new Uint8Array([1, 2, 3]),
      dlopen: (mod, file) => {
        loadedFrom = file
        expect(existsSync(file)).toBe(true)
        ;(mod as { exports: Native }).exports = fakeAddon(() => {})
      },
    }, { TMPDIR: base })
    expect(res.native).toBeDefined()
    expect(loadedFrom.startsWith(join(base, 'tscni-native-'))).toBe(true)
    expect(readdirSync(base)).toEqual([])
  })

  it('says why when it cannot: switched off, no asset, dlopen refused (noexec), temp dir not writable', () => {
    const bytes = () => new Uint8Array([1])
    expect(loadNative({ bytes, dlopen: () => {} }, { TSCNI_NATIVE: 'off' })).toEqual({ reason: 'TSCNI_NATIVE=off' })
    expect(loadNative({ bytes: () => undefined, dlopen: () => {} }, {})).toEqual({ reason: 'no addon in this build' })
    const base = tmp()
    const refused = loadNative({ bytes, dlopen: () => { throw new Error('failed to map segment from shared object') } }, { TMPDIR: base })
    expect(refused.native).toBeUndefined()
    expect((refused as { reason: string }).reason).toMatch(/cannot load the addon from .*tscni-native-.*: failed to map segment/)
    expect(readdirSync(base)).toEqual([])
    // A TMPDIR that does not exist is passed over for /tmp.
    expect((loadNative({ bytes, dlopen: () => {} }, { TMPDIR: '/proc/no-such-dir' }) as { reason: string }).reason).toBe('the addon lacks its functions')
    expect((loadNative({ bytes, dlopen: () => {} }, { TMPDIR: tmp() }) as { reason: string }).reason).toBe('the addon lacks its functions')
  })
})

describe('where the addon is dlopen()ed', () => {
  const loadedFrom = (env: Record<string, string>): string => {
    let from = ''
    loadNative({ bytes: () => new Uint8Array([1]), dlopen: (mod, file) => void ((from = file), ((mod as { exports: Native }).exports = fakeAddon(() => {}))) }, env)
    return from
  }

  it('never under a TMPDIR others can write, or one below a directory others can write: /tmp instead', () => {
    const open = tmp()
    chmodSync(open, 0o777)
    expect(loadedFrom({ TMPDIR: open })).toMatch(/^\/tmp\/tscni-native-[^/]+\/tscni-native\.node$/)
    const below = join(open, 'private')
    mkdirSync(below, { mode: 0o700 })
    expect(loadedFrom({ TMPDIR: below })).toMatch(/^\/tmp\/tscni-native-/)
    expect(readdirSync(open)).toEqual(['private'])
    // A root-owned 0700 TMPDIR is used (the sticky /tmp above it is fine).
    const own = tmp()
    expect(loadedFrom({ TMPDIR: own }).startsWith(`${own}/tscni-native-`)).toBe(true)
  })

  it('safeTempBase: the first safe candidate, by its real path; none when none is safe', () => {
    const open = tmp()
    chmodSync(open, 0o777)
    expect(safeTempBase([open, '/tmp'], 0)).toBe('/tmp')
    expect(safeTempBase([open, 'relative', undefined], 0)).toBeUndefined()
    expect(safeTempBase(['/tmp/../tmp'], 0)).toBe('/tmp')
    // Owned by another account: unsafe, unless that account is the caller.
    const theirs = tmp()
    chmodSync(theirs, 0o700)
    expect(safeTempBase([theirs], 0)).toBe(theirs)
  })
})

describe('createLocker with the addon', () => {
  const busy = (): never => {
    throw Object.assign(new Error('flock: Resource temporarily unavailable'), { code: 'EAGAIN', errno: -11 })
  }

  it('retries a held lock until it is free, without running flock(1)', async () => {
    let calls = 0
    const ops: number[] = []
    const locker = createLocker(noExec, () => fakeAddon((_fd, op) => {
      ops.push(op)
      if (++calls < 3) busy()
    }))
    const held = await locker.acquire(join(tmp(), 'lock'), 1000)
    expect(calls).toBe(3)
    expect(ops.every((op) => op === (LOCK_EX | LOCK_NB))).toBe(true)
    await held.release()
    await held.release() // a second release is harmless
  })

  it('gives up at the timeout with reason again (CNI code 11 upstream), not as a killed command', async () => {
    const locker = createLocker(noExec, () => fakeAddon(busy))
    const started = performance.now()
    const err = await locker.acquire(join(tmp(), 'lock'), 60).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SystemError)
    expect(err).toMatchObject({ reason: 'again', timedOut: false, message: expect.stringMatching(/timed out after 60 ms waiting for the lock .*lock$/) })
    expect(performance.now() - started).toBeGreaterThanOrEqual(55)
  })

  it('fails at once on another errno', async () => {
    const locker = createLocker(noExec, () => fakeAddon(() => {
      throw Object.assign(new Error('flock: Bad file descriptor'), { code: 'EBADF', errno: -9 })
    }))
    const err = await locker.acquire(join(tmp(), 'lock'), 5000).catch((e: unknown) => e)
    expect(err).toMatchObject({ reason: 'other', message: expect.stringContaining('cannot lock') })
    expect((err as Error).message).toContain('Bad file descriptor')
  })

  it('uses flock(1) when the addon cannot be loaded', async () => {
    const seen: string[] = []
    const exec: Exec = { run: async (cmd) => (seen.push(cmd), { stdout: '', stderr: '', exitCode: 0 }) }
    const held = await createLocker(exec, () => undefined).acquire(join(tmp(), 'lock'), 1000)
    await held.release()
    expect(seen).toEqual(['flock'])
  })
})
