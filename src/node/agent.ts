// `tscni node run` with etcd: lease a subnet, keep the lease alive, watch every node's lease and keep the kernel
// in line with them (at each change and every resync), until the signal aborts. Stopping keeps the data plane and
// the lease, so a restart within the TTL changes nothing for pods.
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import { EtcdCompactedError, type EtcdClient } from './etcd-client.ts'
import { publishLocal, reconcileOnce } from './node-steps.ts'
import { parseLeases, leaseValue } from './leases.ts'
import { acquireLease, entriesOf, keysOf, readClusterConfig, type HeldLease } from './membership.ts'
import type { NodeOptions } from './options.ts'
import { findUplink, pickFirewall } from './kernel.ts'
import { readState } from './local-files.ts'
import { reasonOf, retryReporter } from './retry-log.ts'
import { subnetText } from './subnets.ts'

/** What the agent runs on. */
export interface AgentDeps {
  readonly sys: System
  readonly etcd: EtcdClient
  readonly log: Logger
  readonly options: NodeOptions
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done)
  })
}

/** Runs the agent until `signal` aborts. Throws only for what a restart cannot fix (a bad config, no uplink). */
export async function runAgent(deps: AgentDeps, signal: AbortSignal): Promise<void> {
  const { sys, etcd, log, options } = deps
  const keys = keysOf(options.prefix)
  const config = await waitFor(signal, log, 'the cluster config', () => readClusterConfig(etcd, options.prefix, options.initConfig, log))
  if (!config) return
  const uplink = await findUplink(sys, options.iface, options.publicIp)
  const publicIp = subnetText(uplink.address).split('/')[0]!
  const firewall = await pickFirewall(sys, options.firewall)
  await sys.sysctl.ensure('net/ipv4/ip_forward', '1')
  const previous = (await readState(options.stateDir))?.subnet
  const acquire = async (prev: string | undefined): Promise<HeldLease | undefined> => {
    const held = await waitFor(signal, log, 'a subnet lease', () => acquireLease(etcd, { prefix: options.prefix, config, publicIp, previous: prev, ttl: options.ttl, log }))
    if (held) log.info(`leased ${subnetText(held.lease.subnet)} (${held.reason}) as ${publicIp} on ${uplink.name}, ${config.backend.type}, lease ${held.id}`)
    return held
  }
  let held = await acquire(previous)
  if (!held) return
  await publishLocal(sys, { options, config, self: held.lease, uplink, firewall })

  const entries = new Map<string, string>()
  // The newest revision a watch delivered: a resync list read at an older revision must not undo it.
  let watched = 0n
  let queue = Promise.resolve()
  let lastWarnings = ''
  const reconcile = (why: string): Promise<void> => (queue = queue.then(async () => {
    if (signal.aborted || !held) return
    const parsed = parseLeases([...entries].map(([key, value]) => ({ key, value })), config, keys.subnets)
    const mine = entries.get(keys.subnets + held.lease.key)
    if (mine === undefined) {
      // Our key vanished (deleted by hand, or etcd lost it) while the lease lives: put it back.
      log.warn(`our lease key ${keys.subnets}${held.lease.key} is gone; writing it again`)
      await etcd.put(keys.subnets + held.lease.key, leaseValue(held.lease, config.backend.vni), held.id).catch((err: unknown) => log.warn(`rewriting our lease key failed: ${String(err)}`))
    } else if (!parsed.leases.some((l) => l.key === held!.lease.key && l.publicIp === publicIp)) {
      log.warn(`our subnet ${subnetText(held.lease.subnet)} is now held by someone else; leasing again`)
      held = await acquire(undefined)
      if (!held) return
      await publishLocal(sys, { options, config, self: held.lease, uplink, firewall })
    }
    const warnings = parsed.warnings.join('\n')
    if (warnings !== lastWarnings) for (const w of parsed.warnings) log.warn(w)
    lastWarnings = warnings
    await reconcileOnce(sys, { options, config, self: held.lease, leases: parsed.leases, uplink, firewall, leaseId: held.id, log, why })
  }).catch((err: unknown) => log.error(`reconcile (${why}) failed: ${err instanceof Error ? err.message : String(err)}`)))

  const keepAlive = async () => {
    const every = Math.max(500, (options.ttl * 1000) / 3)
    const report = retryReporter(log, 'the lease keep-alive')
    while (!signal.aborted) {
      await sleep(every, signal)
      if (signal.aborted || !held) break
      try {
        const ttl = await etcd.keepAlive(held.id)
        report.succeeded()
        if (ttl > 0) continue
        log.warn(`lease ${held.id} expired or was revoked; leasing ${subnetText(held.lease.subnet)} again`)
        const again = await acquire(subnetText(held.lease.subnet))
        if (!again) break
        const changed = again.lease.key !== held.lease.key
        held = again
        if (changed) await publishLocal(sys, { options, config, self: held.lease, uplink, firewall })
        await reconcile('lease renewed')
      } catch (err) {
        report.failed(`renewing lease ${held.id} failed: ${reasonOf(err)}`)
      }
    }
  }

  const watchLoop = async () => {
    let backoff = 100
    const report = retryReporter(log, `the watch on ${keys.subnets}`)
    while (!signal.aborted) {
      try {
        const { kvs, revision } = await etcd.list(keys.subnets)
        entries.clear()
        for (const e of entriesOf(kvs)) entries.set(e.key, e.value)
        report.succeeded()
        await reconcile('listed')
        backoff = 100
        log.debug(`watching ${keys.subnets} from revision ${BigInt(revision) + 1n}`)
        await etcd.watch(keys.subnets, String(BigInt(revision) + 1n), (events, at) => {
          log.debug(`watch: ${events.length} event(s) at revision ${at}`)
          if (BigInt(at) > watched) watched = BigInt(at)
          for (const e of events) {
            if (e.type === 'put') entries.set(e.kv.key, e.kv.value)
            else entries.delete(e.kv.key)
          }
          void reconcile('watch')
        }, signal)
      } catch (err) {
        if (signal.aborted) break
        if (err instanceof EtcdCompactedError) {
          log.info(`${err.message}: listing again`)
          continue
        }
        report.failed(reasonOf(err))
        await sleep(backoff, signal)
        backoff = Math.min(backoff * 2, 5_000)
      }
    }
  }

  // Every resync also lists the leases again, so a change a watch never delivered is still applied (kube-router
  // re-syncs its routes the same way); when etcd is unreachable the last known leases are reconciled.
  const resyncLoop = async () => {
    const report = retryReporter(log, `the resync list of ${keys.subnets} (reconciling the last known leases meanwhile)`)
    while (!signal.aborted) {
      await sleep(options.resync * 1000, signal)
      if (signal.aborted) break
      try {
        const { kvs, revision } = await etcd.list(keys.subnets)
        report.succeeded()
        if (BigInt(revision) >= watched) {
          entries.clear()
          for (const e of entriesOf(kvs)) entries.set(e.key, e.value)
        }
      } catch (err) {
        report.failed(reasonOf(err))
      }
      await reconcile('resync')
    }
  }

  await Promise.all([keepAlive(), watchLoop(), resyncLoop()])
  await queue
  log.info('stopped; the data plane and the lease stay (a restart within the TTL keeps the subnet)')
}

/**
 * Retries `fn` (1 s apart) until it returns a value or the signal aborts. Every attempt's reason is reported, and
 * logged at a sane rate (first failure, each change of reason, a reminder every 10 s, the recovery).
 */
async function waitFor<T>(signal: AbortSignal, log: Logger, what: string, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  const report = retryReporter(log, what)
  while (!signal.aborted) {
    try {
      const value = await fn()
      if (value !== undefined) {
        report.succeeded()
        return value
      }
      report.failed('not there yet')
    } catch (err) {
      if (isFatal(err)) throw err
      report.failed(reasonOf(err))
    }
    await sleep(1_000, signal)
  }
  return undefined
}

/** Errors a retry cannot fix: a bad cluster config, a full cluster. */
function isFatal(err: unknown): boolean {
  return err instanceof Error && (err.name === 'ClusterConfigError' || err instanceof SyntaxError || /no free .* subnet left|not JSON/.test(err.message))
}

