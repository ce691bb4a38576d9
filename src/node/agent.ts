// `tscni node run` with etcd: lease a subnet, keep the lease alive, watch every node's lease and keep the kernel
// in line with them (at each change and every resync), until the signal aborts. Stopping keeps the data plane and
// the lease, so a restart within the TTL changes nothing for pods. What it reads from etcd is checked first: the
// cluster config against bounds, this host and the pinned config; leases one by one and against each other.
import type { Logger } from '../plugin/log.ts'
import { parseCidr } from '../plugin/addr.ts'
import type { System } from '../system/index.ts'
import { parseClusterConfig, type ClusterConfig } from './cluster-config.ts'
import { assertConfigSafe, configText, ConfigChangedError, pinMismatch, readPin, writePin } from './config-trust.ts'
import { EtcdCompactedError, MAX_LIST_KEYS, type EtcdClient, type KeyValue } from './etcd-client.ts'
import { hostFacts } from './host-facts.ts'
import { cut, refuseOnSegment } from './lease-trust.ts'
import { parseLeases, leaseValue, type StoreEntry } from './leases.ts'
import { acquireLease, entriesOf, keysOf, LeaseLostError, readClusterConfig, type HeldLease } from './membership.ts'
import { publishLocal, reconcileOnce } from './node-steps.ts'
import type { NodeOptions } from './options.ts'
import { findUplink, pickFirewall } from './kernel.ts'
import { readState } from './local-files.ts'
import { podAddressesIn } from './pod-addresses.ts'
import { changedWarnings, reasonOf, retryReporter } from './retry-log.ts'
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

/**
 * Runs the agent until `signal` aborts. Throws for what a restart cannot fix (a bad or changed config, no uplink,
 * this node's subnet lost while its pods hold addresses in it).
 */
export async function runAgent(deps: AgentDeps, signal: AbortSignal): Promise<void> {
  const { sys, etcd, log, options } = deps
  const keys = keysOf(options.prefix)
  // Stops every loop on a fatal error found while running (a changed config, our lease overwritten).
  const halt = new AbortController()
  const live = AbortSignal.any([signal, halt.signal])
  let fatal: Error | undefined
  const stopWith = (err: Error) => {
    fatal ??= err
    halt.abort()
  }

  const config = await waitFor(live, log, 'the cluster config', () => readClusterConfig(etcd, options.prefix, options.initConfig, log))
  if (!config) return
  const uplink = await findUplink(sys, options.iface, options.publicIp)
  const publicIp = subnetText(uplink.address).split('/')[0]!
  assertConfigSafe(config, await hostFacts(sys, options))
  const state = await readState(options.stateDir)
  const changed = pinMismatch(config, await readPin(options.stateDir), state?.network)
  if (changed && !options.acceptConfigChange) {
    throw new ConfigChangedError(`${changed}: stopping (anyone who can write to etcd can change it). If the change is intended, start again with --accept-config-change; pods keep their old addresses until they are recreated`)
  }
  if (changed) log.warn(`${changed}: accepted (--accept-config-change)`)
  await writePin(options.stateDir, config)
  const firewall = await pickFirewall(sys, options.firewall)
  await sys.sysctl.ensure('net/ipv4/ip_forward', '1')

  // Pods with addresses in a subnet pin this node to it: never lease another one under them (flannel exits too).
  const podsHold = async (subnet: string | undefined) => {
    const net = subnet === undefined ? undefined : parseCidr(subnet)
    return net !== undefined && (await podAddressesIn(options.ipamDataDir, options.networkName, net)).length > 0
  }
  const acquire = async (prev: string | undefined, keep: boolean): Promise<HeldLease | undefined> => {
    const got = await waitFor(live, log, 'a subnet lease', () => acquireLease(etcd, { prefix: options.prefix, config, publicIp, previous: prev, ttl: options.ttl, log, keep }))
    if (got) log.info(`leased ${subnetText(got.lease.subnet)} (${got.reason}) as ${publicIp} on ${uplink.name}, ${config.backend.type}, lease ${got.id}`)
    return got
  }
  let held = await acquire(state?.subnet, !changed && (await podsHold(state?.subnet)))
  if (!held) return finish()
  await publishLocal(sys, { options, config, self: held.lease, uplink, firewall })

  /** What the store holds under the subnets prefix, as last listed or watched (values cut at the wire). */
  const entries = new Map<string, StoreEntry>()
  const ourKey = () => keys.subnets + held!.lease.key
  const ourValue = () => leaseValue(held!.lease, config.backend.vni)
  /** The same as read (revisions included), so a list re-reads only values that changed. */
  const known = new Map<string, KeyValue>()
  const lookup = (key: string) => known.get(key)
  const remember = (kvs: readonly KeyValue[]) => {
    entries.clear()
    known.clear()
    for (const kv of kvs) known.set(kv.key, kv)
    for (const e of entriesOf(kvs)) entries.set(e.key, e)
  }
  // The newest revision a watch delivered: a resync list read at an older revision must not undo it.
  let watched = 0n
  const warnings = changedWarnings(log)

  /** Leases again after our key or etcd lease vanished; moves only when no pod holds an address in the subnet. */
  const leaseAgain = async (why: string) => {
    const prev = subnetText(held!.lease.subnet)
    const old = held!
    log.warn(`${why}; leasing ${prev} again`)
    const again = await acquire(prev, await podsHold(prev))
    if (!again) return
    held = again
    entries.set(ourKey(), { key: ourKey(), value: ourValue() })
    if (again.id !== old.id) await etcd.revoke(old.id).catch(() => undefined)
    if (again.lease.key !== old.lease.key) {
      log.warn(`moved from ${prev} to ${subnetText(again.lease.subnet)} (no pod held an address in ${prev})`)
      await publishLocal(sys, { options, config, self: again.lease, uplink, firewall })
    }
  }

  let leaseGone = false
  const pass = async (why: string) => {
    if (live.aborted || !held) return
    const mine = entries.get(ourKey())
    if (leaseGone || mine === undefined) {
      // Our etcd lease expired (a long pause) or our key was deleted: lease the same subnet again.
      await leaseAgain(leaseGone ? `lease ${held.id} expired or was revoked` : `our lease key ${ourKey()} is gone`)
      leaseGone = false
      if (live.aborted) return
    } else if (mine.value !== ourValue() || mine.oversize !== undefined) {
      // Someone else wrote our key. Taking a new subnet would leave our pods with addresses that now route to
      // that node; flannel exits in this case ("Lease has been revoked"), and so do we, loudly.
      return stopWith(new LeaseLostError(`our lease ${ourKey()} was overwritten by someone else (it now holds ${cut(mine.oversize !== undefined ? `${mine.oversize} bytes` : mine.value)}): stopping. The data plane stays; pods keep their addresses. Find out who wrote it (etcd write access controls the pod network), then start the agent again`))
    }
    warnings.begin()
    const parsed = parseLeases([...entries.values()], config, keys.subnets)
    const onSegment = refuseOnSegment(parsed.leases, uplink.address, keys.subnets)
    for (const w of [...parsed.warnings, ...onSegment.warnings]) warnings.warn(w)
    await reconcileOnce(sys, { options, config, self: held.lease, leases: onSegment.leases, uplink, firewall, leaseId: held.id, log, why, warn: warnings.warn })
    warnings.end()
  }

  // One pass runs at a time and at most one waits: a burst of watch events becomes a single pass.
  let waiting: Promise<void> | undefined
  let tail: Promise<void> = Promise.resolve()
  const reasons = new Set<string>()
  const reconcile = (why: string): Promise<void> => {
    reasons.add(why)
    if (waiting) return waiting
    const next = tail.then(async () => {
      waiting = undefined
      const because = [...reasons].join(', ')
      reasons.clear()
      await pass(because).catch((err: unknown) => {
        if (err instanceof LeaseLostError) stopWith(err)
        else log.error(`reconcile (${because}) failed: ${reasonOf(err)}`)
      })
    })
    waiting = next
    tail = next
    return next
  }

  const keepAlive = async () => {
    const every = Math.max(500, (options.ttl * 1000) / 3)
    const report = retryReporter(log, 'the lease keep-alive')
    let renewed = Date.now()
    while (!live.aborted) {
      await sleep(every, live)
      if (live.aborted || !held) break
      // After a pause longer than the TTL (a suspended VM, a stopped process) the lease is gone: lease again
      // at once instead of first failing to renew it.
      const paused = Date.now() - renewed > options.ttl * 1000
      try {
        const ttl = paused ? 0 : await etcd.keepAlive(held.id)
        report.succeeded()
        renewed = Date.now()
        if (ttl > 0) continue
        if (paused) log.info(`no renewal for longer than the ${options.ttl} s lease TTL (the agent was paused?): leasing again`)
        leaseGone = true
        await reconcile('lease renewed')
      } catch (err) {
        report.failed(`renewing lease ${held.id} failed: ${reasonOf(err)}`)
      }
    }
  }

  let overflowWarned = false
  const overflow = (what: string) => {
    if (!overflowWarned) log.warn(`more than ${MAX_LIST_KEYS} keys under ${keys.subnets} (${what}): the rest are ignored`)
    overflowWarned = true
  }

  const watchLoop = async () => {
    let backoff = 100
    const report = retryReporter(log, `the watch on ${keys.subnets}`)
    while (!live.aborted) {
      try {
        const { kvs, revision, truncated } = await etcd.list(keys.subnets, lookup)
        if (truncated) overflow('listed')
        remember(kvs)
        report.succeeded()
        await reconcile('listed')
        backoff = 100
        log.debug(`watching ${keys.subnets} from revision ${BigInt(revision) + 1n}`)
        await etcd.watch(keys.subnets, String(BigInt(revision) + 1n), (events, at) => {
          log.debug(`watch: ${events.length} event(s) at revision ${at}`)
          if (BigInt(at) > watched) watched = BigInt(at)
          for (const ev of events) {
            const [entry] = entriesOf([ev.kv])
            if (ev.type === 'delete') {
              entries.delete(entry!.key)
              known.delete(entry!.key)
            } else if (entries.has(entry!.key) || entries.size < MAX_LIST_KEYS) {
              entries.set(entry!.key, entry!)
              known.set(ev.kv.key, ev.kv)
            } else overflow('watched')
          }
          void reconcile('watch')
        }, live)
      } catch (err) {
        if (live.aborted) break
        if (err instanceof EtcdCompactedError) {
          log.info(`${err.message}: listing again`)
          continue
        }
        report.failed(reasonOf(err))
        await sleep(backoff, live)
        backoff = Math.min(backoff * 2, 5_000)
      }
    }
  }

  // Every resync also lists the leases again, so a change a watch never delivered is still applied (kube-router
  // re-syncs its routes the same way); when etcd is unreachable the last known leases are reconciled. It also
  // reads the cluster config: one changed under a running agent stops it, as at start-up.
  const resyncLoop = async () => {
    const report = retryReporter(log, `the resync list of ${keys.subnets} (reconciling the last known leases meanwhile)`)
    while (!live.aborted) {
      await sleep(options.resync * 1000, live)
      if (live.aborted) break
      try {
        const changedNow = await configChanged(etcd, keys.config, config)
        if (changedNow) return stopWith(new ConfigChangedError(`${changedNow}: stopping; the data plane stays. If the change is intended, start again with --accept-config-change`))
        const { kvs, revision, truncated } = await etcd.list(keys.subnets, lookup)
        if (truncated) overflow('listed')
        report.succeeded()
        if (BigInt(revision) >= watched) remember(kvs)
      } catch (err) {
        report.failed(reasonOf(err))
      }
      await reconcile('resync')
    }
  }

  await Promise.all([keepAlive(), watchLoop(), resyncLoop()])
  await tail
  return finish()

  function finish(): void {
    if (fatal) throw fatal
    log.info('stopped; the data plane and the lease stay (a restart within the TTL keeps the subnet)')
  }
}

/** Why the config now in etcd is not `config` (unreadable, or different); undefined when it is the same. */
async function configChanged(etcd: EtcdClient, key: string, config: ClusterConfig): Promise<string | undefined> {
  const kv = await etcd.get(key)
  if (!kv) return undefined
  let now: string
  try {
    if (kv.oversize !== undefined) throw new Error(`${kv.oversize} bytes`)
    now = configText(parseClusterConfig(JSON.parse(kv.value)))
  } catch (err) {
    return `the cluster config at ${key} became unreadable (${cut(reasonOf(err))})`
  }
  return now === configText(config) ? undefined : `the cluster config at ${key} changed to ${now} (this agent runs with ${configText(config)})`
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

/** Errors a retry cannot fix: a bad or changed cluster config, a lost subnet, a full cluster. */
function isFatal(err: unknown): boolean {
  return err instanceof Error && (['ClusterConfigError', 'ConfigChangedError', 'LeaseLostError'].includes(err.name) || err instanceof SyntaxError || /no free .* subnet left/.test(err.message))
}
