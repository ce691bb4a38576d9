// Membership in etcd: the cluster config, and this node's subnet lease (acquired with a create-only transaction
// bound to an etcd lease, as flannel's etcd subnet manager does; kept alive; taken back after a restart).
import type { Logger } from '../plugin/log.ts'
import { ClusterConfigError, parseClusterConfig, type ClusterConfig } from './cluster-config.ts'
import { configBoundsProblems } from './config-trust.ts'
import { cut } from './lease-trust.ts'
import type { EtcdClient, KeyValue } from './etcd-client.ts'
import { leaseValue, ownLease, parseLeases, type Lease, type StoreEntry } from './leases.ts'
import { vtepMac } from './plan.ts'
import { chooseSubnet, parseSubnetKey, subnetKey, subnetText } from './subnets.ts'

/** The keys of a cluster under its prefix. */
export function keysOf(prefix: string): { config: string; subnets: string } {
  return { config: `${prefix}/config`, subnets: `${prefix}/subnets/` }
}

/** Store entries from key-values. */
export function entriesOf(kvs: readonly KeyValue[]): StoreEntry[] {
  return kvs.map((kv) => (kv.oversize === undefined ? { key: kv.key, value: kv.value } : { key: kv.key, value: '', oversize: kv.oversize }))
}

/** The subnet this node must keep (its pods hold addresses in it) was lost to another node: stop, never move. */
export class LeaseLostError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LeaseLostError'
  }
}

/**
 * Reads the cluster config; when there is none and `initConfig` is given, stores it first (create-only, so the
 * first node to start decides and later ones never overwrite it). Undefined when there is none yet.
 */
export async function readClusterConfig(etcd: EtcdClient, prefix: string, initConfig: string | undefined, log: Logger): Promise<ClusterConfig | undefined> {
  const key = keysOf(prefix).config
  let kv = await etcd.get(key)
  if (!kv && initConfig !== undefined) {
    let init: unknown
    try {
      init = JSON.parse(initConfig)
    } catch {
      throw new ClusterConfigError(['--init-config is not JSON'])
    }
    const problems = configBoundsProblems(parseClusterConfig(init))
    if (problems.length > 0) throw new ClusterConfigError(problems.map((p) => `--init-config: ${p}`))
    if (await etcd.create(key, initConfig)) log.info(`stored the cluster config at ${key}`)
    kv = await etcd.get(key)
  }
  if (!kv) return undefined
  if (kv.oversize !== undefined) throw new ClusterConfigError([`the value at ${key} is ${kv.oversize} bytes, over the limit for a cluster config`])
  let value: unknown
  try {
    value = JSON.parse(kv.value)
  } catch {
    throw new ClusterConfigError([`the value at ${key} is not JSON: ${cut(kv.value)}`])
  }
  const config = parseClusterConfig(value)
  const problems = configBoundsProblems(config)
  if (problems.length > 0) throw new ClusterConfigError(problems.map((p) => `${key}: ${p}`))
  return config
}

/** This node's lease as held in etcd. */
export interface HeldLease {
  readonly lease: Lease
  /** The etcd lease ID the key is bound to. */
  readonly id: string
  readonly reason: string
}

const ATTEMPTS = 10

/**
 * Leases a subnet: lists the leases, chooses (ours by PublicIP, the state file's, the lowest free), grants an
 * etcd lease and writes the key only if nobody else did meanwhile (a transaction on its create or mod revision);
 * retried when another node won the race.
 */
export async function acquireLease(etcd: EtcdClient, o: {
  prefix: string; config: ClusterConfig; publicIp: string; previous?: string | undefined; ttl: number; log: Logger
  /** Pods hold addresses in `previous`: lease exactly it, or throw LeaseLostError (never move silently). */
  keep?: boolean
}): Promise<HeldLease> {
  const { subnets } = keysOf(o.prefix)
  const previous = o.previous === undefined ? undefined : parseSubnetKey(o.previous.replace('/', '-'))
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const { kvs } = await etcd.list(subnets)
    const parsed = parseLeases(entriesOf(kvs), o.config, subnets)
    for (const w of parsed.warnings) o.log.warn(w)
    const choice = chooseSubnet({ config: o.config, taken: parsed.taken, publicIp: o.publicIp, previous })
    if (o.keep && previous && choice?.key !== subnetKey(previous)) {
      const holder = parsed.taken.find((t) => t.key === subnetKey(previous))
      throw new LeaseLostError(`this node's subnet ${subnetText(previous)} is now held by ${holder?.publicIp ?? 'an unreadable lease'}, and this node's pods still hold addresses in it: refusing to lease another subnet under them. Remove those pods (or run tscni node clean) and start again`)
    }
    if (!choice) throw new Error(`no free /${o.config.subnetLen} subnet left in ${subnetText(o.config.network)}`)
    const lease = ownLease(o.config, choice.subnet, o.publicIp, vtepMac(o.publicIp))
    const value = leaseValue(lease, o.config.backend.vni)
    const id = await etcd.grant(o.ttl)
    const existing = kvs.find((kv) => kv.key === subnets + choice.key)
    const won = existing ? await etcd.replace(subnets + choice.key, value, existing.modRevision, id) : await etcd.create(subnets + choice.key, value, id)
    if (won) {
      // The key now hangs on the new lease; the old one (a previous run's) holds nothing worth keeping.
      if (existing?.lease && existing.lease !== id) await etcd.revoke(existing.lease).catch(() => undefined)
      return { lease, id, reason: choice.reason }
    }
    await etcd.revoke(id).catch(() => undefined)
    o.log.info(`subnet ${subnetText(choice.subnet)} was taken meanwhile (attempt ${attempt} of ${ATTEMPTS}); choosing again`)
  }
  throw new Error(`could not lease a subnet after ${ATTEMPTS} attempts (other nodes kept winning)`)
}
