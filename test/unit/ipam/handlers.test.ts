// The host-local handlers over the in-memory store: result shape, one lock per verb, idempotent ADD, DEL, CHECK, GC, STATUS.
import { describe, expect, it } from 'vitest'
import { createHostLocal } from '../../../src/ipam/handlers.ts'
import type { NetConf } from '../../../src/plugin/config.ts'
import { parseCniArgs, type Verb } from '../../../src/plugin/env.ts'
import type { Context } from '../../../src/plugin/role.ts'
import { noTrace } from '../../../src/plugin/role.ts'
import { MemoryStore, type MemoryStoreOptions } from '../../support/memory-store.ts'

const IPAM = { type: 'host-local', ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: '2001:db8:1::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }

function setup(options: MemoryStoreOptions = {}) {
  const store = new MemoryStore(options)
  const opened: string[] = []
  const role = createHostLocal({ openStore: (location) => (opened.push(`${location.dataDir}/${location.network}`), store) })
  const logs: string[] = []
  const ctx = (verb: Verb, raw: Record<string, unknown> = { ipam: IPAM }, env: { containerId?: string; ifname?: string; args?: string } = {}): Context => {
    const conf: NetConf = { cniVersion: '1.1.0', name: 'mynet', type: 'host-local', raw: { cniVersion: '1.1.0', name: 'mynet', ...raw } }
    return {
      env: { verb, containerId: env.containerId ?? 'ctr1', netns: '/x', ifname: env.ifname ?? 'eth0', args: parseCniArgs(env.args ?? ''), path: [], netnsOverride: false },
      conf,
      stdin: JSON.stringify(conf.raw),
      sys: {} as Context['sys'],
      ipam: {} as Context['ipam'],
      log: { debug: () => {}, info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) },
      trace: noTrace,
    }
  }
  return { store, role, ctx, opened, logs }
}

describe('ADD', () => {
  it('returns one address per range set with prefix and gateway, the routes, and takes the lock once', async () => {
    const { store, role, ctx, opened } = setup()
    const result = await role.add(ctx('ADD'))
    expect(result).toEqual({
      cniVersion: '1.1.0',
      ips: [
        { address: '10.1.2.2/24', gateway: '10.1.2.1' },
        { address: '2001:db8:1::2/64', gateway: '2001:db8:1::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
    })
    expect(store.locks).toBe(1)
    expect(store.held).toBe(false)
    expect(opened).toEqual(['/var/lib/cni/networks/mynet'])
  })

  it('is idempotent: the same attachment gets the same addresses back, and a log line says so', async () => {
    const { store, role, ctx, logs } = setup()
    const first = await role.add(ctx('ADD'))
    const second = await role.add(ctx('ADD'))
    expect(second.ips).toEqual(first.ips)
    expect(store.files.size).toBe(2)
    expect(logs.some((l) => l.includes('already allocated to ctr1'))).toBe(true)
  })

  it('a failed ADD leaves nothing reserved and releases the lock', async () => {
    const { store, role, ctx } = setup({ reserved: { '10.9.0.2': 'x\r\neth0' } })
    const raw = { ipam: { ...IPAM, ranges: [...IPAM.ranges, [{ subnet: '10.9.0.0/30' }]] } }
    await expect(role.add(ctx('ADD', raw))).rejects.toThrow('failed to allocate for range 2: no IP addresses available in range set: 10.9.0.1-10.9.0.2')
    expect([...store.files.keys()]).toEqual(['10.9.0.2'])
    expect(store.held).toBe(false)
  })

  it('takes the requested address from CNI_ARGS', async () => {
    const { role, ctx } = setup()
    const result = await role.add(ctx('ADD', undefined, { args: 'IgnoreUnknown=1;IP=10.1.2.77' }))
    expect(result.ips?.[0]?.address).toBe('10.1.2.77/24')
  })
})

describe('DEL and CHECK', () => {
  it('DEL releases the attachment and keeps others; a second DEL succeeds', async () => {
    const { store, role, ctx } = setup({ reserved: { '10.1.2.2': 'ctr1\r\neth0', '10.1.2.3': 'ctr2\r\neth0' } })
    await role.del(ctx('DEL'))
    await role.del(ctx('DEL'))
    expect([...store.files.keys()]).toEqual(['10.1.2.3'])
  })

  it('DEL succeeds without taking the lock when the network directory does not exist', async () => {
    const { store, role, ctx } = setup({ exists: false })
    await role.del(ctx('DEL'))
    expect(store.locks).toBe(0)
  })

  it('DEL still releases when the ranges in the config became invalid', async () => {
    const { store, role, ctx } = setup({ reserved: { '10.1.2.2': 'ctr1\r\neth0' } })
    await role.del(ctx('DEL', { ipam: { ranges: [[{ subnet: '10.1.2.2/24' }]] } }))
    expect(store.files.size).toBe(0)
  })

  it('CHECK passes for a held attachment and fails with the reference message otherwise', async () => {
    const { role, ctx } = setup({ reserved: { '10.1.2.2': 'ctr1\r\neth0' } })
    await expect(role.check(ctx('CHECK'))).resolves.toBeUndefined()
    await expect(role.check(ctx('CHECK', undefined, { containerId: 'ctr9' }))).rejects.toThrow('host-local: Failed to find address added by container ctr9')
  })
})

describe('GC', () => {
  const files = { '10.1.2.2': 'a\r\neth0', '10.1.2.3': 'b\r\neth0' }
  it('without a valid-attachments key it releases nothing and takes no lock', async () => {
    const { store, role, ctx } = setup({ reserved: files })
    await role.gc(ctx('GC'))
    expect(store.files.size).toBe(2)
    expect(store.locks).toBe(0)
  })
  it('with a list it releases what is not listed, under the lock', async () => {
    const { store, role, ctx } = setup({ reserved: files })
    await role.gc(ctx('GC', { ipam: IPAM, 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] }))
    expect([...store.files.keys()]).toEqual(['10.1.2.3'])
    expect(store.locks).toBe(1)
  })
})

describe('STATUS', () => {
  it('succeeds when writable with free addresses', async () => {
    const { role, ctx } = setup()
    await expect(role.status(ctx('STATUS'))).resolves.toBeUndefined()
  })
  it('code 50 when the data directory is not writable', async () => {
    const { role, ctx } = setup({ unwritable: true })
    await expect(role.status(ctx('STATUS'))).rejects.toMatchObject({ code: 50, message: expect.stringContaining('/var/lib/cni/networks/mynet is not writable') })
  })
  it('code 50 naming the exhausted range set', async () => {
    const { role, ctx } = setup({ reserved: { '10.9.0.2': 'x\r\neth0' } })
    const raw = { ipam: { ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: '10.9.0.0/30' }]] } }
    await expect(role.status(ctx('STATUS', raw))).rejects.toMatchObject({ code: 50, message: 'no IP addresses available in range set: 1 (10.9.0.1-10.9.0.2)' })
  })
})
