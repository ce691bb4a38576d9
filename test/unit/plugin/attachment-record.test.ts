// Attachment records on disk: atomic replace, removal, GC pruning by valid attachments, unreadable files named.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { diskRecords, readRecords, recordFile, type AttachmentRecord } from '../../../src/plugin/attachment-record.ts'

let dir: string
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'tscni-records-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const rec = (role: string, containerId: string, network = 'net'): AttachmentRecord => ({
  version: 1, role, network, containerId, ifname: 'eth0', netns: `/run/netns/${containerId}`, config: { name: network }, rules: {}, createdAt: 'now',
})

describe('attachment records', () => {
  it('writes one file per role and attachment, replaces it whole, and removes it (twice is fine)', () => {
    const records = diskRecords(join(dir, 'state'))
    records.write(rec('bridge', 'a'))
    records.write({ ...rec('bridge', 'a'), netns: '/other' })
    records.write(rec('portmap', 'a'))
    expect(readdirSync(join(dir, 'state')).sort()).toEqual([recordFile(rec('bridge', 'a')), recordFile(rec('portmap', 'a'))].sort())
    expect(readRecords(join(dir, 'state')).records.find((r) => r.role === 'bridge')!.netns).toBe('/other')
    records.remove(rec('bridge', 'a'))
    records.remove(rec('bridge', 'a'))
    expect(readRecords(join(dir, 'state')).records.map((r) => r.role)).toEqual(['portmap'])
  })

  it('reads one attachment\'s record back; none, a corrupt one or another version reads as undefined', () => {
    const records = diskRecords(join(dir, 'state'))
    expect(records.read(rec('bridge', 'a'))).toBeUndefined()
    records.write({ ...rec('bridge', 'a'), rules: { firewall: [] } })
    expect(records.read(rec('bridge', 'a'))).toMatchObject({ role: 'bridge', containerId: 'a', rules: { firewall: [] } })
    expect(records.read(rec('portmap', 'a'))).toBeUndefined()
    writeFileSync(join(dir, 'state', recordFile(rec('portmap', 'a'))), '{"version":1,')
    expect(records.read(rec('portmap', 'a'))).toBeUndefined()
    writeFileSync(join(dir, 'state', recordFile(rec('portmap', 'a'))), JSON.stringify({ ...rec('portmap', 'a'), version: 2 }))
    expect(records.read(rec('portmap', 'a'))).toBeUndefined()
  })

  it('a config stateDir wins over the default', () => {
    diskRecords(join(dir, 'default')).write(rec('bridge', 'a'), join(dir, 'own'))
    expect(readRecords(join(dir, 'own')).records).toHaveLength(1)
    expect(readRecords(join(dir, 'default')).records).toHaveLength(0)
  })

  it('GC prunes only this role\'s records on this network whose attachment is not valid', () => {
    const records = diskRecords(dir)
    for (const r of [rec('bridge', 'a'), rec('bridge', 'b'), rec('portmap', 'b'), rec('bridge', 'c', 'other')]) records.write(r)
    const pruned = records.prune('bridge', 'net', [{ containerID: 'a', ifname: 'eth0' }])
    expect(pruned.map((k) => k.containerId)).toEqual(['b'])
    expect(readRecords(dir).records.map((r) => `${r.role}/${r.network}/${r.containerId}`).sort()).toEqual(['bridge/net/a', 'bridge/other/c', 'portmap/net/b'])
  })

  it('names files that are not records and reads a missing dir as empty', () => {
    writeFileSync(join(dir, 'x.json'), '{')
    writeFileSync(join(dir, 'y.json'), '{"version":2}')
    expect(readRecords(dir).unreadable).toEqual([`${join(dir, 'x.json')}: not JSON`, `${join(dir, 'y.json')}: not a version 1 attachment record`])
    expect(readRecords(join(dir, 'missing'))).toEqual({ records: [], unreadable: [] })
  })

  it('a state dir that cannot be written gives an errno-classified error naming the path', () => {
    writeFileSync(join(dir, 'file'), '')
    expect(() => diskRecords(join(dir, 'file')).write(rec('bridge', 'a'))).toThrow(expect.objectContaining({ code: 5, message: expect.stringMatching(/^failed to write the attachment record .*: mkdir .*: not a directory$|: file exists$/) }))
  })
})
