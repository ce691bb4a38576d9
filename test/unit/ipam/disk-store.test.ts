// The disk store in a temp dir: the reference's file names, contents and modes, O_EXCL, lock path and timeout.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DiskStore, networkDir } from '../../../src/ipam/disk-store.ts'
import { formatIp, parseIp } from '../../../src/plugin/addr.ts'
import { normalizeError } from '../../../src/plugin/errors.ts'
import type { Locker } from '../../../src/system/index.ts'
import { SystemError } from '../../../src/system/index.ts'

const ip = (t: string) => parseIp(t)!
let dataDir: string
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tscni-disk-'))
})
afterEach(() => rmSync(dataDir, { recursive: true, force: true }))

function recordingLocker(fail?: unknown): Locker & { paths: string[]; released: number } {
  const l = {
    paths: [] as string[],
    released: 0,
    async acquire(path: string) {
      l.paths.push(path)
      if (fail) throw fail
      return { release: async () => void l.released++ }
    },
  }
  return l
}

describe('DiskStore', () => {
  it('writes reservations exactly as the reference does and refuses an existing one', () => {
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker())
    store.ensureDir()
    expect(store.reserve(ip('10.1.2.2'), { containerId: 'ctr1', ifname: 'eth0' })).toBe(true)
    expect(store.reserve(ip('2001:db8:1::2'), { containerId: 'ctr1', ifname: 'eth0' })).toBe(true)
    expect(store.reserve(ip('10.1.2.2'), { containerId: 'ctr2', ifname: 'eth0' })).toBe(false)
    const dir = join(dataDir, 'net1')
    expect(readdirSync(dir).sort()).toEqual(['10.1.2.2', '2001:db8:1::2'])
    expect(readFileSync(join(dir, '10.1.2.2'), 'utf8')).toBe('ctr1\r\neth0')
    expect(statSync(join(dir, '10.1.2.2')).mode & 0o777).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o755)
  })

  it('lists only address files, with trimmed content (legacy and whitespace files included)', () => {
    const dir = join(dataDir, 'net1')
    mkdirSync(dir)
    writeFileSync(join(dir, '10.1.2.2'), 'ctr1\r\neth0')
    writeFileSync(join(dir, '10.1.2.3'), '  legacy \n')
    writeFileSync(join(dir, 'lock'), '')
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.1.2.3')
    writeFileSync(join(dir, '010.1.2.4'), 'not canonical')
    writeFileSync(join(dir, 'notes.txt'), 'ctr1\r\neth0')
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker())
    const seen = store.reservations().map((r) => [formatIp(r.ip), r.content]).sort()
    expect(seen).toEqual([['10.1.2.2', 'ctr1\r\neth0'], ['10.1.2.3', 'legacy']])
    expect(store.reservedAddresses().map(formatIp).sort()).toEqual(['10.1.2.2', '10.1.2.3'])
  })

  it('last_reserved_ip.<rangeID> round-trips as bare text; missing or garbage reads as undefined', () => {
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker())
    store.ensureDir()
    expect(store.lastReserved(0)).toBeUndefined()
    store.setLastReserved(1, ip('2001:db8::5'))
    expect(readFileSync(join(dataDir, 'net1', 'last_reserved_ip.1'), 'utf8')).toBe('2001:db8::5')
    expect(formatIp(store.lastReserved(1)!)).toBe('2001:db8::5')
    writeFileSync(join(dataDir, 'net1', 'last_reserved_ip.2'), 'garbage')
    expect(store.lastReserved(2)).toBeUndefined()
  })

  it('release removes the file and tolerates a missing one', () => {
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker())
    store.ensureDir()
    store.reserve(ip('10.1.2.2'), { containerId: 'c', ifname: 'eth0' })
    store.release(ip('10.1.2.2'))
    store.release(ip('10.1.2.2'))
    expect(readdirSync(join(dataDir, 'net1'))).toEqual([])
  })

  it('locks <dataDir>/<network>/lock and releases it', async () => {
    const locker = recordingLocker()
    const store = new DiskStore({ dataDir, network: 'net1' }, locker)
    const unlock = await store.lock()
    await unlock()
    expect(locker.paths).toEqual([join(dataDir, 'net1', 'lock')])
    expect(locker.released).toBe(1)
  })

  it('a lock timeout becomes code 11 (try again later) through the one path, normalizeError', async () => {
    // What system/lock.ts throws when flock's wait runs out.
    const timeout = new SystemError({ cmd: 'flock', args: [], exitCode: 1, reason: 'again', message: 'timed out after 50 ms waiting for the lock /x/lock' })
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker(timeout), 50)
    const err = await store.lock().then(() => undefined, (e: unknown) => e)
    expect(err).toBe(timeout)
    expect(normalizeError(err)).toMatchObject({ code: 11, message: 'timed out after 50 ms waiting for the lock /x/lock' })
  })

  it('exists() is false until the directory is created, and nothing is created by asking', () => {
    const store = new DiskStore({ dataDir, network: 'net1' }, recordingLocker())
    expect(store.exists()).toBe(false)
    expect(existsSync(join(dataDir, 'net1'))).toBe(false)
  })

  it('assertWritable fails when the data dir cannot be created', () => {
    writeFileSync(join(dataDir, 'file'), '')
    const store = new DiskStore({ dataDir: join(dataDir, 'file'), network: 'net1' }, recordingLocker())
    expect(() => store.assertWritable()).toThrow(expect.objectContaining({ code: 5, message: expect.stringMatching(/: not a directory$/) }))
  })

  it.each(['..', '.', 'a/b', '../../etc', ''])('refuses the network name %j (code 7)', (network) => {
    expect(() => networkDir({ dataDir, network })).toThrow(expect.objectContaining({ code: 7 }))
  })
})
