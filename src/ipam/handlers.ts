// The host-local role: ADD, DEL, CHECK, GC and STATUS as lists of named steps over config, allocator and store.
import { formatCidr, formatIp } from '../plugin/addr.ts'
import { CniError, ErrorCode, normalizeError } from '../plugin/errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result, ResultDns, ResultRoute } from '../plugin/result.ts'
import { allocate, collectGarbage, exhaustedRangeSets, holdsAny, releaseOwner, type Allocation } from './allocator.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { TEST_HOOKS } from '../plugin/test-pause.ts'
import { parseIpamConfig, parseStoreLocation, type StoreLocation } from './config.ts'
import { DiskStore } from './disk-store.ts'
import { readResolvConf } from './dns.ts'
import { rangeSetToString } from './range.ts'
import type { NetworkStore, Store } from './store.ts'

/** What the handlers depend on; tests pass an in-memory store. */
export interface HostLocalDeps {
  openStore(location: StoreLocation, ctx: Context): NetworkStore
}

const realDeps: HostLocalDeps = {
  openStore: (location, ctx) => new DiskStore(location, ctx.sys.locker),
}

/** Builds the host-local role's handlers (the real disk store unless `deps` says otherwise). */
export function createHostLocal(deps: HostLocalDeps = realDeps): RoleHandlers {
  return {
    about: 'tscni host-local',

    async add(ctx) {
      const conf = parseIpamConfig(ctx.conf, ctx.env.args)
      const dns = conf.resolvConf ? readResolvConf(conf.resolvConf) : undefined
      const store = deps.openStore(conf.location, ctx)
      store.ensureDir()
      const owner = { containerId: ctx.env.containerId, ifname: ctx.env.ifname }
      const allocations = await ctx.trace.step('ipam allocate', () =>
        locked(store, () => allocate(store, { owner, rangeSets: conf.rangeSets, requested: conf.requested })),
      )
      if (TEST_HOOKS) await ctx.pause?.('host-local:allocated')
      for (const a of allocations) if (a.reused) ctx.log.info(`${formatIp(a.ip)} was already allocated to ${owner.containerId} (${owner.ifname}); returning it again`)
      return toResult(ctx.conf.cniVersion, allocations, conf.routes, dns)
    },

    async del(ctx) {
      // Only the location is parsed, so a config whose ranges became invalid still releases (never leak IPs).
      const store = deps.openStore(parseStoreLocation(ctx.conf), ctx)
      if (!store.exists()) return
      const owner = { containerId: ctx.env.containerId, ifname: ctx.env.ifname }
      if (TEST_HOOKS) await ctx.pause?.('host-local:del-locking')
      const { errors } = await locked(store, () => releaseOwner(store, owner))
      if (errors.length > 0) throw releaseFailure('', errors)
    },

    async check(ctx) {
      const conf = parseIpamConfig(ctx.conf, ctx.env.args)
      const store = deps.openStore(conf.location, ctx)
      const owner = { containerId: ctx.env.containerId, ifname: ctx.env.ifname }
      const found = store.exists() && (await locked(store, () => holdsAny(store, owner)))
      if (!found) throw new CniError(ErrorCode.Internal, `host-local: Failed to find address added by container ${owner.containerId}`)
    },

    async gc(ctx) {
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined) return // no list given: nothing is known to be stale
      const store = deps.openStore(parseStoreLocation(ctx.conf), ctx)
      if (!store.exists()) return
      const { released, errors } = await locked(store, () => collectGarbage(store, valid))
      if (released.length > 0) ctx.log.info(`gc released ${released.map(formatIp).join(' ')}`)
      if (errors.length > 0) throw releaseFailure('gc: ', errors)
    },

    async status(ctx) {
      const conf = parseIpamConfig(ctx.conf, ctx.env.args)
      const store = deps.openStore(conf.location, ctx)
      try {
        store.assertWritable()
      } catch (err) {
        throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: the data directory ${conf.location.dataDir}/${conf.location.network} is not writable: ${normalizeError(err).message}`, { cause: err })
      }
      const exhausted = exhaustedRangeSets(conf.rangeSets, store.reservedAddresses())
      if (exhausted.length > 0) {
        const sets = exhausted.map((i) => `${i} (${rangeSetToString(conf.rangeSets[i]!)})`).join(', ')
        throw new CniError(ErrorCode.NotAvailable, `no IP addresses available in range set: ${sets}`)
      }
    },
  }
}

// Every failed release is named; the code is the first failure's (a read-only data dir gives 5 for all of them).
function releaseFailure(prefix: string, errors: readonly CniError[]): CniError {
  return new CniError(errors[0]!.code, `${prefix}${errors.map((e) => e.message).join('; ')}`, { details: errors[0]!.details, cause: errors[0] })
}

async function locked<T>(store: Store, fn: () => T): Promise<T> {
  const unlock = await store.lock()
  try {
    return fn()
  } finally {
    await unlock()
  }
}

function toResult(cniVersion: string, allocations: readonly Allocation[], routes: readonly ResultRoute[], dns: ResultDns | undefined): Result {
  const result: Result = {
    cniVersion,
    ips: allocations.map((a) => ({ address: formatCidr({ ip: a.ip, prefix: a.range.subnet.prefix }), gateway: formatIp(a.range.gateway) })),
  }
  if (routes.length > 0) result.routes = routes.map((r) => ({ ...r }))
  if (dns) result.dns = dns
  return result
}
