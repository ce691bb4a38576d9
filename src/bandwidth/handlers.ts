// The bandwidth role: shapes a container's traffic on the host end of its veth, chained after a veth-based plugin.
// Into the container: a tbf on the host veth. Out of it: the host veth's ingress redirected to an ifb with a tbf.
// DEL removes the ifb by its deterministic name (the veth's qdiscs go with the veth), without prevResult or netns.
import { recordKeyOf, recordOfAdd, stateDirOf } from '../plugin/attachment-record.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { CniError, ErrorCode, invalidConfig, normalizeError, wrapError } from '../plugin/errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import { decodeResult } from '../plugin/version.ts'
import { isUnlimited, parseBandwidthConfig, type BandwidthConfig } from './config.ts'
import { bucketProblem, ifbName, ifbOps, planBandwidth, rollbackOps, tcOps, type BandwidthPlan } from './plan.ts'

// The role name in attachment records.
const RECORD_ROLE = 'bandwidth'
// The reference's VersionsStartingFrom("0.3.0").
const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
// Names that reach a `tc -batch` line: whitespace, '#', quotes or a backslash would change how it splits.
const SAFE_NAME = /^[^\s#"'\\]{1,15}$/

/** Builds the bandwidth role's handlers. */
export function createBandwidth(): RoleHandlers {
  return {
    about: 'tscni bandwidth: rate limits in and out of the container (tc tbf on the host veth and an ifb), chained after bridge',
    versions: VERSIONS,

    async add(ctx) {
      const config = parseBandwidthConfig(ctx.conf.raw)
      const prev = prevResultOf(ctx, config, 'must be called as chained plugin')
      if (isUnlimited(config.limits)) return prev
      const host = await hostVeth(ctx, prev)
      const plan = planBandwidth(config.limits, host.name, ifbName(ctx.conf.name, ctx.env.containerId))
      let result = prev
      try {
        if (plan.ifb) {
          const [ifb] = await ctx.trace.step('ifb', () => ctx.sys.ip.batchThenShow(ifbOps(plan, host.mtu), plan.ifb!))
          result = { ...prev, interfaces: [...(prev.interfaces ?? []), { name: plan.ifb, ...(ifb?.address ? { mac: ifb.address } : {}) }] }
        }
        await ctx.trace.step('tc', () => ctx.sys.tc.batch(tcOps(plan)))
        ctx.records?.write(recordOfAdd(ctx, RECORD_ROLE, { hostVeth: plan.hostVeth, ifb: plan.ifb, ingress: plan.ingress, egress: plan.egress }, result), stateDirOf(ctx.conf.raw))
      } catch (err) {
        await rollback(ctx, plan)
        throw wrapError(`bandwidth could not shape ${host.name}`, err)
      }
      return result
    },

    async del(ctx) {
      // The reference's DEL: the ifb by name, nothing else (the veth's qdiscs die with the veth). A missing one is done.
      const ifb = ifbName(ctx.conf.name, ctx.env.containerId)
      const errors: string[] = []
      await ctx.trace.step('ifb del', () => ctx.sys.ip.batch([{ op: 'link-del', name: ifb }])).catch((err: unknown) => {
        if (!ctx.sys.ip.failure(err).noDevice) errors.push(normalizeError(err).message)
      })
      try {
        ctx.records?.remove(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw))
      } catch (err) {
        errors.push(normalizeError(err).message)
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `bandwidth DEL failed: ${errors.join('; ')}`)
    },

    async check(ctx) {
      const config = parseBandwidthConfig(ctx.conf.raw)
      const prev = prevResultOf(ctx, config, 'must be called as a chained plugin')
      if (isUnlimited(config.limits)) return // containernetworking/plugins#1221: CHECK without limits has nothing to check
      const host = await hostVeth(ctx, prev)
      const plan = planBandwidth(config.limits, host.name, ifbName(ctx.conf.name, ctx.env.containerId))
      const problems: string[] = []
      if (plan.ingress) {
        const p = bucketProblem(plan.hostVeth, plan.ingress, await ctx.sys.tc.qdiscs(plan.hostVeth))
        if (p) problems.push(p)
      }
      if (plan.egress && plan.ifb) {
        const qdiscs = await ctx.sys.tc.qdiscs(plan.ifb)
        if (qdiscs.length === 0) problems.push(`ifb device ${plan.ifb} is missing or has no qdisc`)
        else {
          const p = bucketProblem(plan.ifb, plan.egress, qdiscs)
          if (p) problems.push(p)
        }
        if (!(await ctx.sys.tc.qdiscs(plan.hostVeth)).some((q) => q.kind === 'ingress')) problems.push(`no ingress qdisc on ${plan.hostVeth} to redirect to ${plan.ifb}`)
      }
      if (problems.length > 0) throw new CniError(ErrorCode.Internal, problems[0]!, { details: problems.join('\n') })
    },

    async gc(ctx) {
      // The ifbs of recorded attachments on this network that the runtime no longer lists (their names are only known
      // through a record: other networks' and the reference's ifbs are left alone).
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined || !ctx.records) return
      const errors: string[] = []
      let stale: ReturnType<NonNullable<Context['records']>['prune']> = []
      try {
        stale = ctx.records.prune(RECORD_ROLE, ctx.conf.name, valid, stateDirOf(ctx.conf.raw))
      } catch (err) {
        errors.push(`attachment records: ${normalizeError(err).message}`)
      }
      for (const key of stale) {
        await ctx.sys.ip.batch([{ op: 'link-del', name: ifbName(key.network, key.containerId) }]).catch((err: unknown) => {
          if (!ctx.sys.ip.failure(err).noDevice) errors.push(normalizeError(err).message)
        })
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `bandwidth GC failed: ${errors.join('; ')}`)
    },

    async status(ctx) {
      parseBandwidthConfig(ctx.conf.raw)
      try {
        ctx.records?.assertWritable(stateDirOf(ctx.conf.raw))
      } catch (err) {
        throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${normalizeError(err).message}`, { cause: err })
      }
    },
  }
}

function prevResultOf(ctx: Context, config: BandwidthConfig, missing: string): Result {
  if (config.prevResult === undefined) throw invalidConfig(missing)
  return decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult')
}

// The host end of the container interface's veth, found as the reference does: the container interface's peer
// ifindex, looked up in this namespace, and listed in prevResult's interfaces without a sandbox.
async function hostVeth(ctx: Context, prev: Result): Promise<{ name: string; mtu: number }> {
  const state = await ctx.sys.netns.state(ctx.env.netns)
  if (state !== 'ok') throw new CniError(ErrorCode.Internal, `failed to open netns "${ctx.env.netns}" (CNI_NETNS): ${state === 'missing' ? 'no such file' : 'not a network namespace'}`)
  if (!prev.interfaces?.length) throw invalidConfig('no interfaces provided in prevResult')
  const { links } = await ctx.sys.ip.inspect(ctx.env.ifname, ctx.env.netns, [])
  const peerIndex = links.find((l) => l.ifname === ctx.env.ifname)?.linkIndex
  if (!peerIndex) throw new CniError(ErrorCode.Internal, `container interface ${ctx.env.ifname} has no veth peer`)
  const host = (await ctx.sys.ip.links()).find((l) => l.ifindex === peerIndex)
  if (!host) throw new CniError(ErrorCode.Internal, `veth peer with index ${peerIndex} is not in host ns`)
  if (!prev.interfaces.some((i) => !i.sandbox && i.name === host.ifname)) throw new CniError(ErrorCode.Internal, 'no veth peer of container interface found in host ns')
  if (!SAFE_NAME.test(host.ifname)) throw new CniError(ErrorCode.Internal, `host interface name ${JSON.stringify(host.ifname)} cannot be shaped with tc`)
  return { name: host.ifname, mtu: host.mtu }
}

async function rollback(ctx: Context, plan: BandwidthPlan): Promise<void> {
  await ctx.sys.tc.batch(rollbackOps(plan), { force: true }).catch((e: unknown) => ctx.log.debug(`bandwidth rollback: ${normalizeError(e).message}`))
  if (plan.ifb) await ctx.sys.ip.batch([{ op: 'link-del', name: plan.ifb }]).catch((e: unknown) => ctx.log.debug(`bandwidth rollback: ${normalizeError(e).message}`))
}
