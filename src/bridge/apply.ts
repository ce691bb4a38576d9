// Executes a BridgePlan through System: one host ip batch, VLANs, host sysctls, one container process, waits,
// firewall. After every step that changed something an undo action is pushed; the caller runs them on failure.
import type { FirewallBackend } from '../firewall/backend.ts'
import { CniError, ErrorCode, wrapError } from '../plugin/errors.ts'
import type { Logger } from '../plugin/log.ts'
import type { System } from '../system/index.ts'
import type { BridgePlan } from './plan.ts'
import { setupSpoofCheck, teardownSpoofCheck } from '../firewall/nft-spoofcheck.ts'

/** Undo actions, run newest first; their own failures are logged, never thrown (the original error matters). */
export interface UndoStack {
  push(name: string, action: () => Promise<void>): void
  run(log: Logger): Promise<void>
  clear(): void
}

/** A fresh undo stack. */
export function createUndoStack(): UndoStack {
  const actions: Array<{ name: string; action: () => Promise<void> }> = []
  return {
    push: (name, action) => void actions.push({ name, action }),
    async run(log) {
      for (const { name, action } of actions.splice(0).reverse()) {
        try {
          await action()
        } catch (err) {
          log.warn(`rollback step "${name}" failed: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
    },
    clear: () => void actions.splice(0),
  }
}

/**
 * Thrown when a shared-bridge change lost a race with a parallel ADD (EEXIST before this container's veth was
 * created): nothing of this attachment exists yet, so the caller re-reads the bridge and plans again.
 */
export class BridgeRace extends Error {
  constructor(cause: unknown) {
    super('the bridge changed while this ADD was configuring it', { cause })
    this.name = 'BridgeRace'
  }
}

/** What apply needs. */
export interface ApplyDeps {
  readonly sys: System
  readonly log: Logger
  /** The masquerade backend, asked for only when the plan has a masquerade intent. */
  readonly masqBackend: () => Promise<FirewallBackend>
  /** Sleeps between polls (injected so unit tests do not wait). */
  readonly sleep: (ms: number) => Promise<void>
}

// The reference's bridge-port poll (0, 50, 500, 1000, 1000 ms: 2.55 s in all), its first 550 ms split finely. Over
// netlink the check comes within a millisecond of the container end going up, before the kernel's linkwatch work has
// marked the host end operationally up (right after, for a veth: linkwatch_urgent_event; later when many ADDs contend
// for the RTNL lock). Waiting 50 and then 500 ms cost a bridge ADD those milliseconds; reading operstate costs ~0.1 ms.
const PORT_WAIT_MS = [0, 1, 2, 4, 8, 16, 19, ...new Array<number>(25).fill(20), 1000, 1000]
const DAD_POLL_MS = 50
const DAD_TIMEOUT_MS = 5000

/** Applies the plan, pushing undo actions onto `undo` as it goes. */
export async function applyPlan(plan: BridgePlan, deps: ApplyDeps, undo: UndoStack): Promise<void> {
  // The masquerade needs only the addresses, not the links: its firewall transaction (tool processes, 15-25 ms)
  // runs while the links are made and the port comes up. Every exit waits for it, so a rollback never races it.
  const masq = plan.masq ? startMasquerade(plan.masq, deps, undo) : undefined
  try {
    await links(plan, deps, undo)
  } finally {
    await masq?.catch(() => undefined)
  }
  await masq
  if (plan.spoofCheck) {
    const sc = plan.spoofCheck
    undo.push('remove MAC spoof check', () => teardownSpoofCheck(deps.sys, sc.refId))
    await step('set up the MAC spoof check', () => setupSpoofCheck(deps.sys, sc))
  }
}

async function startMasquerade(masq: NonNullable<BridgePlan['masq']>, deps: ApplyDeps, undo: UndoStack): Promise<void> {
  const backend = await deps.masqBackend()
  undo.push('remove masquerade', () => backend.remove('masquerade', masq.owner))
  await step(`set up ipMasq with ${backend.name}`, () => backend.ensure(masq))
}

async function links(plan: BridgePlan, deps: ApplyDeps, undo: UndoStack): Promise<void> {
  const { sys } = deps
  await hostBatch(plan, deps, undo)
  if (plan.vlanOps.length > 0) {
    await step(`set VLANs on ${plan.hostVeth.name}`, () => sys.ip.vlans(plan.vlanOps)).catch(async (err: unknown) => {
      await dropVlanGateway(plan, deps)
      throw err
    })
  }
  for (const w of plan.hostSysctls) {
    if (w.optional) await sys.sysctl.set(w.key, w.value).catch(() => undefined)
    else await step(`set sysctl ${w.key}`, () => sys.sysctl.set(w.key, w.value))
  }
  for (const key of plan.forwarding) await step(`enable forwarding (${key})`, () => sys.sysctl.ensure(key, '1'))
  await step(`configure ${plan.container.ifname} in ${plan.container.netns}`, () =>
    sys.ip.batch(plan.containerOps, { netns: plan.container.netns, sysctls: plan.containerSysctls }))
  if (plan.waitDad) await waitDad(plan, deps)
  if (plan.waitPort) await waitPort(plan, deps)
}

async function hostBatch(plan: BridgePlan, deps: ApplyDeps, undo: UndoStack): Promise<void> {
  const { sys } = deps
  const dropVeth = () => sys.ip.batch([{ op: 'link-del', name: plan.hostVeth.name }]).catch((err: unknown) => {
    if (!sys.ip.failure(err).noDevice) throw err
  })
  try {
    await sys.ip.batch(plan.hostOps)
  } catch (err) {
    const failure = sys.ip.failure(err)
    if (plan.createsVlanGateway && (failure.index === undefined || failure.index > plan.createsVlanGateway.index)) await dropVlanGateway(plan, deps)
    if (failure.index !== undefined && failure.index < plan.vethIndex) {
      if (failure.exists) throw new BridgeRace(err)
      throw wrapError(`configure bridge ${plan.bridge.name}`, err)
    }
    if (failure.index === plan.vethIndex) {
      if (failure.exists) throw await vethExists(plan, deps, err)
      throw wrapError(`create veth pair ${plan.hostVeth.name} / ${plan.container.ifname}`, err)
    }
    // Failed after the veth was created (or at an unknown line): it may exist, so it goes.
    await dropVeth().catch((e: unknown) => deps.log.warn(`rollback: ${String(e)}`))
    throw wrapError(`attach ${plan.hostVeth.name} to ${plan.bridge.name}`, err)
  }
  undo.push(`delete veth ${plan.hostVeth.name}`, dropVeth)
}

// Deletes the VLAN gateway pair this ADD created before its VLAN was set (deleting one end removes both).
async function dropVlanGateway(plan: BridgePlan, deps: ApplyDeps): Promise<void> {
  const gw = plan.createsVlanGateway
  if (!gw) return
  await deps.sys.ip.batch([{ op: 'link-del', name: gw.name }]).catch((err: unknown) => {
    if (!deps.sys.ip.failure(err).noDevice) deps.log.warn(`rollback: delete VLAN gateway ${gw.name}: ${String(err)}`)
  })
}

// EEXIST on the veth: either CNI_IFNAME is already in the container (the spec requires an error) or the
// deterministic host name is taken (a stale attachment of the same container and ifname).
async function vethExists(plan: BridgePlan, deps: ApplyDeps, err: unknown): Promise<CniError> {
  const inContainer = await deps.sys.ip.links({ dev: plan.container.ifname, netns: plan.container.netns }).catch(() => [])
  if (inContainer.length > 0) {
    return new CniError(ErrorCode.Internal, `container interface "${plan.container.ifname}" already exists in ${plan.container.netns}`, { cause: err })
  }
  return new CniError(ErrorCode.Internal, `host veth "${plan.hostVeth.name}" already exists: an earlier ADD of this container and interface was not deleted`, { cause: err })
}

async function waitPort(plan: BridgePlan, deps: ApplyDeps): Promise<void> {
  let state: string | undefined
  for (const ms of PORT_WAIT_MS) {
    if (ms > 0) await deps.sleep(ms)
    state = await deps.sys.sysctl.linkAttr(plan.hostVeth.name, 'operstate')
    if (state === 'up') return
  }
  throw new CniError(ErrorCode.Internal, `bridge port in error state: ${state ?? 'missing'}`, { details: `${plan.hostVeth.name} did not become operationally up` })
}

async function waitDad(plan: BridgePlan, deps: ApplyDeps): Promise<void> {
  const { ifname, netns } = plan.container
  for (let waited = 0; ; waited += DAD_POLL_MS) {
    const [link] = await deps.sys.ip.links({ dev: ifname, netns })
    const v6 = (link?.addrs ?? []).filter((a) => a.family === 'inet6')
    const failed = v6.find((a) => a.dadfailed)
    if (failed) throw new CniError(ErrorCode.Internal, `link ${ifname} has address ${failed.local}/${failed.prefixlen} in DADFAILED state`)
    if (!v6.some((a) => a.tentative)) return
    if (waited >= DAD_TIMEOUT_MS) throw new CniError(ErrorCode.Internal, `link ${ifname} still has tentative addresses after ${DAD_TIMEOUT_MS / 1000} seconds`)
    await deps.sleep(DAD_POLL_MS)
  }
}

async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw wrapError(what, err)
  }
}
