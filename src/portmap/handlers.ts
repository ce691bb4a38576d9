// The portmap role: publishes container ports on the host through the firewall backends. Chained after bridge.
import { assertFirewallRoleReady } from '../firewall/status.ts'
import { createFirewall, type FirewallFactory } from '../firewall/select.ts'
import { familiesOfIntents, LOCALNET_DROP, type Owner } from '../firewall/model.ts'
import type { FirewallBackend } from '../firewall/backend.ts'
import { formatIp, type IpNet } from '../plugin/addr.ts'
import { backendsOf, intentsFor, recordedIntents, recordedRules } from '../firewall/intent-json.ts'
import { recordKeyOf, recordOfAdd, stateDirOf } from '../plugin/attachment-record.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { TEST_HOOKS } from '../plugin/test-pause.ts'
import { CniError, ErrorCode, invalidConfig, normalizeError, wrapError } from '../plugin/errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import { decodeResult } from '../plugin/version.ts'
import { parsePortmapConfig, type PortmapConfig } from './config.ts'
import { containerAddresses, dnsShadowing, hostDeviceHint, portmapIntent, resultGateways, udpHostPorts, type ContainerAddresses } from './plan.ts'

/** What the role needs besides the Context: the firewall (a seam for handler tests). */
export interface PortmapDeps {
  readonly firewall: FirewallFactory
}

// The role name in attachment records.
const RECORD_ROLE = 'portmap'

const realDeps: PortmapDeps = { firewall: createFirewall }

/** Builds the portmap role's handlers. */
export function createPortmap(deps: PortmapDeps = realDeps): RoleHandlers {
  return {
    about: 'tscni portmap: publishes container ports on host ports (iptables or nftables), chained after bridge',

    async add(ctx) {
      const config = parsePortmapConfig(ctx.conf.raw)
      const prev = prevResultOf(ctx, config, 'must be called as chained plugin')
      // No mappings: nothing to do, and the chain's result passes through untouched (containernetworking/plugins#464).
      if (config.mappings.length === 0) return prev
      const addrs = containerAddresses(prev, ctx.env.ifname)
      if (!addrs.v4 && !addrs.v6) {
        throw invalidConfig(`prevResult has no address on the container interface "${ctx.env.ifname}": there is nothing to forward host ports to`)
      }
      const shadow = dnsShadowing(config.mappings, resultGateways(prev))
      if (shadow) {
        const { index, mapping: m } = shadow
        throw invalidConfig(`runtimeConfig.portMappings[${index}]: hostPort 53 (${m.protocol}) with hostIP ${m.hostIp === undefined ? '(unset)' : `"${m.hostIp}"`} would take over DNS (the network's name server on its gateway, or the host's own resolver on loopback): publish port 53 on a specific host address instead`)
      }
      const owner = ownerOf(ctx)
      const intent = portmapIntent(config, owner, addrs)
      const backend = await ctx.trace.step('firewall select', () => deps.firewall(ctx.sys, ctx.log).select(config.backend))
      // route_localnet is a host setting, idempotent and harmless alone, so it runs beside the rule transaction.
      const [rules, localnet] = await Promise.allSettled([
        ctx.trace.step(`${backend.name} ensure`, () => backend.ensure(intent)),
        config.snat && addrs.v4 ? ctx.trace.step('route_localnet', () => enableRouteLocalnet(ctx, backend, prev, addrs.v4!)) : Promise.resolve(),
      ])
      if (rules.status === 'rejected' || localnet.status === 'rejected') {
        // iptables applies one transaction per family: IPv4 may be in place when IPv6 failed. Remove all of it.
        await backend.remove('portmap', owner).catch((e: unknown) => ctx.log.warn(`rollback of ${backend.name} rules failed: ${String(e)}`))
        if (rules.status === 'rejected') throw rules.reason
        throw wrapError('unable to enable route_localnet', (localnet as PromiseRejectedResult).reason)
      }
      if (TEST_HOOKS) await ctx.pause?.('portmap:ensured')
      try {
        ctx.records?.write(recordOfAdd(ctx, RECORD_ROLE, recordedRules([{ backend: backend.name, intent }]), prev), stateDirOf(ctx.conf.raw))
      } catch (err) {
        await backend.remove('portmap', owner).catch((e: unknown) => ctx.log.warn(`rollback of ${backend.name} rules failed: ${String(e)}`))
        throw err
      }
      await ctx.trace.step('conntrack flush', () => flushConntrack(ctx, config, familiesOf(addrs)))
      return prev
    },

    async del(ctx) {
      // DEL needs neither mappings nor prevResult nor the netns: rules are found by owner (the reference leaks
      // them when the runtime does not resend the mappings). A config it cannot read still releases the rules.
      let config: PortmapConfig | undefined
      try {
        config = parsePortmapConfig(ctx.conf.raw)
      } catch (err) {
        ctx.log.warn(`DEL continues despite an unreadable config: ${normalizeError(err).message}`)
      }
      const owner = ownerOf(ctx)
      const errors: string[] = []
      // Only the backends and families the ADD used when its record says so (see the bridge's DEL); all otherwise.
      const recorded = recordedIntents(ctx.records?.read(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw))?.rules, 'portmap')
      for (const backend of deps.firewall(ctx.sys, ctx.log).removable(backendsOf(recorded))) {
        await ctx.trace.step(`${backend.name} remove`, () => backend.remove('portmap', owner, intentsFor(recorded, backend.name))).catch((err: unknown) => errors.push(`${backend.name}: ${normalizeError(err).message}`))
      }
      if (TEST_HOOKS) await ctx.pause?.('portmap:del-removed')
      try {
        ctx.records?.remove(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw))
      } catch (err) {
        errors.push(normalizeError(err).message)
      }
      // Without a record DEL does not know the addresses: both families are flushed.
      if (config) await flushConntrack(ctx, config, recorded ? familiesOfIntents(recorded.map((r) => r.intent)) : [4, 6])
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `portmap DEL failed: ${errors.join('; ')}`)
    },

    async check(ctx) {
      const config = parsePortmapConfig(ctx.conf.raw)
      const prev = prevResultOf(ctx, config, 'Required prevResult missing')
      if (config.mappings.length === 0) return
      const addrs = containerAddresses(prev, ctx.env.ifname)
      const backend = await deps.firewall(ctx.sys, ctx.log).select(config.backend)
      await backend.verify(portmapIntent(config, ownerOf(ctx), addrs))
      if (config.snat && addrs.v4) await backend.verify(LOCALNET_DROP)
    },

    async gc(ctx) {
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined) return
      const owners: Owner[] = valid.map((a) => ({ network: ctx.conf.name, containerId: a.containerID, ifname: a.ifname }))
      const errors: string[] = []
      for (const backend of await deps.firewall(ctx.sys, ctx.log).usable()) {
        await backend.gc('portmap', ctx.conf.name, owners).catch((err: unknown) => errors.push(`${backend.name}: ${normalizeError(err).message}`))
      }
      try {
        ctx.records?.prune(RECORD_ROLE, ctx.conf.name, valid, stateDirOf(ctx.conf.raw))
      } catch (err) {
        errors.push(`attachment records: ${normalizeError(err).message}`)
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `portmap GC failed: ${errors.join('; ')}`)
    },

    async status(ctx) {
      const config = parsePortmapConfig(ctx.conf.raw)
      await assertFirewallRoleReady(deps.firewall(ctx.sys, ctx.log), config.backend, ctx.records, stateDirOf(ctx.conf.raw))
    },
  }
}

function familiesOf(addrs: ContainerAddresses): Array<4 | 6> {
  return [...(addrs.v4 ? [4 as const] : []), ...(addrs.v6 ? [6 as const] : [])]
}

function ownerOf(ctx: Context): Owner {
  return { network: ctx.conf.name, containerId: ctx.env.containerId, ifname: ctx.env.ifname }
}

function prevResultOf(ctx: Context, config: PortmapConfig, missing: string): Result {
  if (config.prevResult === undefined || config.prevResult === null) throw invalidConfig(missing)
  return decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult')
}

// 127.0.0.1 -> hostPort needs route_localnet on the interface that routes to the container (the reference's portmap
// main.go asks the kernel with a route lookup). The device is almost always the first host-side interface of
// prevResult (the bridge, or ptp's host veth), so that one is offered as a hint the route table only has to confirm.
// route_localnet alone would also let that device's pods reach the host's loopback-only services (CVE-2020-8558,
// containernetworking/plugins#481): the node-wide loopback drop goes in first, through the same backend. Neither is
// undone by DEL: other pods on the device may still need them, and the drop only stops traffic that has no business
// on a non-loopback device.
async function enableRouteLocalnet(ctx: Context, backend: FirewallBackend, prev: Result, v4: IpNet): Promise<void> {
  await ctx.trace.step(`${backend.name} loopback drop`, () => backend.ensure(LOCALNET_DROP))
  const dev = await ctx.sys.ip.routeDev(formatIp(v4.ip), hostDeviceHint(prev))
  if (!dev) throw new CniError(ErrorCode.Internal, `no route to container address ${formatIp(v4.ip)}`)
  await ctx.sys.sysctl.ensure(`net/ipv4/conf/${dev}/route_localnet`, '1')
}

// Stale UDP conntrack entries would keep sending a re-used host port to an old pod (containernetworking/plugins#123). Not fatal.
async function flushConntrack(ctx: Context, config: PortmapConfig, families: ReadonlyArray<4 | 6>): Promise<void> {
  const ports = udpHostPorts(config)
  if (ports.length === 0) return
  const results = await Promise.all(families.map((family) => ctx.sys.conntrack.flushUdpPorts(family, ports)))
  results.forEach((failures, i) => {
    for (const failure of failures) ctx.log.warn(`conntrack flush of udp port ${failure.port} (IPv${families[i]}) failed: ${failure.error}`)
  })
}
