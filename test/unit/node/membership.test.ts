// Leasing a subnet in etcd, against an in-memory fake of the client: create-only writes, taking back our own
// lease by PublicIP, retrying when another node wins the race, and the cluster config's first writer.
import { describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../../../src/node/cluster-config.ts'
import type { EtcdClient, KeyValue } from '../../../src/node/etcd-client.ts'
import { acquireLease, readClusterConfig } from '../../../src/node/membership.ts'
import { silentLogger } from '../../../src/plugin/log.ts'

/** A store with revisions and leases, enough for the calls membership makes. */
function fakeEtcd(onCreate?: (key: string, store: Map<string, KeyValue>) => void) {
  const store = new Map<string, KeyValue>()
  let rev = 1
  let nextLease = 100
  const revoked: string[] = []
  const put = (key: string, value: string, lease?: string) => {
    rev++
    const old = store.get(key)
    store.set(key, { key, value, createRevision: old?.createRevision ?? String(rev), modRevision: String(rev), ...(lease ? { lease } : {}) })
  }
  const client: EtcdClient = {
    async list(prefix) { return { kvs: [...store.values()].filter((kv) => kv.key.startsWith(prefix)), revision: String(rev) } },
    async get(key) { return store.get(key) },
    async put(key, value, lease) { put(key, value, lease) },
    async create(key, value, lease) {
      onCreate?.(key, store)
      if (store.has(key)) return false
      put(key, value, lease)
      return true
    },
    async replace(key, value, modRevision, lease) {
      if (store.get(key)?.modRevision !== modRevision) return false
      put(key, value, lease)
      return true
    },
    async delete(key) { return store.delete(key) },
    async grant() { return String(nextLease++) },
    async keepAlive() { return 5 },
    async revoke(id) {
      revoked.push(id)
      for (const [k, kv] of store) if (kv.lease === id) store.delete(k)
    },
    async watch() {},
    close() {},
  }
  return { client, store, revoked, put }
}

const config = parseClusterConfig({ Network: '10.77.0.0/16', Backend: { Type: 'vxlan' } })
const P = '/tscni/network'
const base = { prefix: P, config, publicIp: '192.168.77.11', ttl: 5, log: silentLogger }

describe('acquireLease', () => {
  it('creates the lowest free subnet bound to a new lease, with the VTEP MAC from the address', async () => {
    const e = fakeEtcd()
    e.put(`${P}/subnets/10.77.1.0-24`, JSON.stringify({ PublicIP: '192.168.77.12', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0e:2a:c0:a8:4d:0c' } }), '7')
    const held = await acquireLease(e.client, base)
    expect(held).toMatchObject({ id: '100', reason: 'free', lease: { key: '10.77.2.0-24', publicIp: '192.168.77.11', vtepMac: '0e:2a:c0:a8:4d:0b' } })
    expect(JSON.parse(e.store.get(`${P}/subnets/10.77.2.0-24`)!.value)).toEqual({ PublicIP: '192.168.77.11', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0e:2a:c0:a8:4d:0b' } })
    expect(e.store.get(`${P}/subnets/10.77.2.0-24`)!.lease).toBe('100')
  })

  it('takes back its own key by PublicIP onto the new lease and revokes the old lease', async () => {
    const e = fakeEtcd()
    e.put(`${P}/subnets/10.77.5.0-24`, JSON.stringify({ PublicIP: '192.168.77.11', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0e:2a:c0:a8:4d:0b' } }), '42')
    const held = await acquireLease(e.client, base)
    expect(held).toMatchObject({ reason: 'public-ip', id: '100', lease: { key: '10.77.5.0-24' } })
    expect(e.store.get(`${P}/subnets/10.77.5.0-24`)!.lease).toBe('100')
    expect(e.revoked).toEqual(['42'])
  })

  it('uses the state file subnet when free', async () => {
    const e = fakeEtcd()
    expect(await acquireLease(e.client, { ...base, previous: '10.77.9.0/24' })).toMatchObject({ reason: 'state-file', lease: { key: '10.77.9.0-24' } })
  })

  it('when another node wins the race, revokes its unused lease and chooses again', async () => {
    let raced = false
    const e = fakeEtcd((key, store) => {
      if (raced) return
      raced = true
      store.set(key, { key, value: JSON.stringify({ PublicIP: '192.168.77.99', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0e:2a:c0:a8:4d:63' } }), createRevision: '50', modRevision: '50', lease: '9' })
    })
    const held = await acquireLease(e.client, base)
    expect(held).toMatchObject({ id: '101', lease: { key: '10.77.2.0-24' } })
    expect(e.revoked).toEqual(['100'])
  })

  it('gives up when the cluster is full', async () => {
    const tiny = parseClusterConfig({ Network: '10.0.0.0/29', SubnetLen: 30, Backend: { Type: 'host-gw' } })
    const e = fakeEtcd()
    e.put(`${P}/subnets/10.0.0.4-30`, JSON.stringify({ PublicIP: '192.168.77.12', BackendType: 'host-gw' }))
    await expect(acquireLease(e.client, { ...base, config: tiny })).rejects.toThrow(/no free \/30 subnet left in 10\.0\.0\.0\/29/)
  })
})

describe('readClusterConfig', () => {
  it('the first node stores its init config; later ones read the stored one', async () => {
    const e = fakeEtcd()
    expect(await readClusterConfig(e.client, P, undefined, silentLogger)).toBeUndefined()
    const first = await readClusterConfig(e.client, P, JSON.stringify({ Network: '10.77.0.0/16', Backend: { Type: 'host-gw' } }), silentLogger)
    expect(first?.backend.type).toBe('host-gw')
    const second = await readClusterConfig(e.client, P, JSON.stringify({ Network: '10.99.0.0/16' }), silentLogger)
    expect(second?.backend.type).toBe('host-gw')
    expect(JSON.parse(e.store.get(`${P}/config`)!.value).Network).toBe('10.77.0.0/16')
  })

  it('refuses a stored config that is not JSON or not valid', async () => {
    const e = fakeEtcd()
    e.put(`${P}/config`, '{')
    await expect(readClusterConfig(e.client, P, undefined, silentLogger)).rejects.toThrow(/not JSON/)
    e.put(`${P}/config`, '{"Network":"x"}')
    await expect(readClusterConfig(e.client, P, undefined, silentLogger)).rejects.toThrow(/Network must be/)
  })
})
