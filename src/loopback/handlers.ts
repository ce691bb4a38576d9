// The loopback role: ADD brings `lo` up in CNI_NETNS and reports it, DEL brings it down (tolerating a namespace
// that is gone), CHECK looks at it; GC and STATUS have nothing to do. Runtimes run it beside every network
// (containerd's CRI plugin does, with cniVersion 0.3.1 and CNI_IFNAME=lo).
import { configField } from '../plugin/config.ts'
import { CniError, ErrorCode } from '../plugin/errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import { decodeResult, encodeResult } from '../plugin/version.ts'
import { encodeLoopbackResult, LOOPBACK, loopbackAddresses, loopbackProblems, loopbackResult } from './result.ts'

// Read inside the namespace: "0" when IPv6 is enabled on lo, absent when the kernel has no IPv6 at all.
const LO_IPV6_DISABLED = `net/ipv6/conf/${LOOPBACK}/disable_ipv6`

/** Builds the loopback role's handlers. */
export function createLoopback(): RoleHandlers {
  return {
    about: 'tscni loopback: brings up the loopback interface in the container namespace',

    async add(ctx) {
      // prevResult is read before anything changes, so a bad one fails ADD without side effects (as the reference).
      const prev = prevResultOf(ctx)
      await requireNetns(ctx)
      const links = await ctx.trace.step('lo up', () =>
        ctx.sys.ip.batchThenShow([{ op: 'link-set', name: LOOPBACK, up: true }], LOOPBACK, { netns: ctx.env.netns }))
      const lo = links.find((l) => l.ifname === LOOPBACK)
      if (!lo) throw new CniError(ErrorCode.Internal, `no loopback interface ${LOOPBACK} in netns "${ctx.env.netns}"`)
      const addrs = loopbackAddresses(lo)
      // A chained loopback passes the previous result on, as the reference does; lo is brought up either way.
      return prev ?? loopbackResult(ctx.conf.cniVersion, ctx.env.netns, addrs)
    },

    encode(result, ctx) {
      // A passed-on prevResult is printed like any result of the config's version; the reference re-prints it so.
      return hasPrevResult(ctx) ? encodeResult(result, ctx.conf.cniVersion) : encodeLoopbackResult(result, ctx.conf.cniVersion)
    },

    async del(ctx) {
      // Nothing to undo without a live namespace: DEL must succeed when the container is gone (spec, DEL). The
      // reference also fails on a path that is not a namespace; that would fail every retry for ever.
      const netns = ctx.env.netns
      if (netns === '' || (await ctx.sys.netns.state(netns)) !== 'ok') return
      try {
        await ctx.trace.step('lo down', () => ctx.sys.ip.batch([{ op: 'link-set', name: LOOPBACK, up: false }], { netns }))
      } catch (err) {
        // The namespace may have been removed between the look and nsenter: then there is nothing left to do.
        if ((await ctx.sys.netns.state(netns)) !== 'ok') return
        throw err
      }
    },

    async check(ctx) {
      await requireNetns(ctx)
      const { links, sysctls } = await ctx.sys.ip.inspect(LOOPBACK, ctx.env.netns, [LO_IPV6_DISABLED])
      const problems = loopbackProblems(links, sysctls[0] === '0')
      if (problems.length > 0) {
        const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
        throw new CniError(ErrorCode.Internal, `${problems[0]}${more}`, { details: problems.join('\n') })
      }
    },

    // No state outside the container's namespace: nothing to collect, and nothing that can be unavailable.
    async gc() {},
    async status() {},
  }
}

// Keys are matched as Go's encoding/json matches them ("PrevResult" too); null counts as absent.
function hasPrevResult(ctx: Context): boolean {
  return configField(ctx.conf, 'prevResult') !== undefined
}

function prevResultOf(ctx: Context): Result | undefined {
  const raw = configField(ctx.conf, 'prevResult')
  return raw === undefined ? undefined : decodeResult(raw, ctx.conf.cniVersion, 'prevResult')
}

async function requireNetns(ctx: Context): Promise<void> {
  const state = await ctx.sys.netns.state(ctx.env.netns)
  if (state !== 'ok') {
    throw new CniError(ErrorCode.Internal, `failed to open netns "${ctx.env.netns}" (CNI_NETNS): ${state === 'missing' ? 'no such file' : 'not a network namespace'}`)
  }
}
