// The bridge role: ADD (IPAM, plan, apply, result), DEL (tolerant, collects errors), CHECK, GC and STATUS.
import type { MasqIntent, Owner } from '../firewall/model.ts'
import { createFirewall, type FirewallFactory } from '../firewall/select.ts'
import { parseCidr } from '../plugin/addr.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { configField } from '../plugin/config.ts'
import { CniError, ErrorCode, normalizeError } from '../plugin/errors.ts'
import { hostVethName } from '../plugin/ids.ts'
import { randomBytes } from '../plugin/random.ts'
import { TEST_HOOKS } from '../plugin/test-pause.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import type { IpLink } from '../system/index.ts'
import { compareVersions, decodeResult } from '../plugin/version.ts'
import { applyPlan, BridgeRace, createUndoStack } from './apply.ts'
import { compareState } from './check.ts'
import { parseBridgeConfig, parseBridgeDelConfig, type BridgeConfig, type BridgeDelConfig } from './config.ts'
import { buildPlan, type BridgePlan } from './plan.ts'
import { buildResult } from './result.ts'
import { teardownSpoofCheck } from '../firewall/nft-spoofcheck.ts'
import type { FirewallBackend } from '../firewall/backend.ts'
import { backendsOf, intentsFor, recordedIntents, recordedRules, type RecordedRules } from '../firewall/intent-json.ts'
import { recordKeyOf, recordOfAdd, stateDirOf } from '../plugin/attachment-record.ts'
import { assertNodeReady } from './readiness.ts'

/** What the bridge role can be given instead of its defaults (tests, and main.ts once the firewall is wired). */
export interface BridgeDeps {
  readonly firewall?: FirewallFactory
  /** A random locally administered unicast MAC. */
  readonly randomMac?: () => string
  readonly sleep?: (ms: number) => Promise<void>
}

// The role name in attachment records (reconcile reads them through bridge/reconcile.ts).
const RECORD_ROLE = 'bridge'

// Parallel ADDs may race on creating the shared bridge or its gateway address; re-plan this many times.
const MAX_ATTEMPTS = 3

/** Builds the bridge role's handlers. */
export function createBridge(deps: BridgeDeps = {}): RoleHandlers {
  const firewall: FirewallFactory = deps.firewall ?? createFirewall
  const randomMac = deps.randomMac ?? defaultRandomMac
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))

  return {
    about: 'tscni bridge',

    async add(ctx) {
      const config = parseBridgeConfig(ctx.conf, ctx.env.args)
      if (!config.ipamType && compareVersions(config.cniVersion, '0.3.0') < 0) {
        // Refused before acting: the reference builds everything, then fails to print the result.
        throw new CniError(ErrorCode.InvalidConfig, `an L2 bridge (no ipam.type) has no address to report in cniVersion ${config.cniVersion}: use cniVersion 0.3.0 or newer`)
      }
      await requireNetns(ctx)
      await refuseRepeatedAdd(ctx, config)
      const undo = createUndoStack()
      try {
        // Reading the bridge needs no address, so it runs while IPAM allocates (one process less on the clock).
        const firstLook = observe(ctx, config)
        firstLook.catch(() => undefined)
        // Choosing the masquerade backend probes iptables: also done while IPAM allocates.
        const fw = firewall(ctx.sys, ctx.log)
        const masqBackend = config.ipMasq && config.ipamType ? fw.select(config.ipMasqBackend) : undefined
        masqBackend?.catch(() => undefined)
        let ipam: Result | undefined
        if (config.ipamType) {
          ipam = await ctx.trace.step('ipam add', () => ctx.ipam.add(config.ipamType, ctx))
          undo.push('release IPAM addresses', () => ctx.ipam.del(config.ipamType, ctx))
          if (TEST_HOOKS) await ctx.pause?.('bridge:ipam-done')
        }
        const applyDeps = { sys: ctx.sys, log: ctx.log, sleep, masqBackend: () => masqBackend ?? fw.select(config.ipMasqBackend) }
        for (let attempt = 1; ; attempt++) {
          const seen = attempt === 1 ? await firstLook : await observe(ctx, config)
          const plan = await ctx.trace.step('plan', async () => makePlan(ctx, config, ipam, seen, randomMac))
          try {
            await ctx.trace.step('apply', () => applyPlan(plan, applyDeps, undo))
            if (TEST_HOOKS) await ctx.pause?.('bridge:applied')
            const result = buildResult(plan, ctx.conf.cniVersion)
            // Recorded before the undo stack is dropped: a record that cannot be written rolls the ADD back.
            const rules = await bridgeRules(plan, masqBackend)
            ctx.records?.write(recordOfAdd(ctx, RECORD_ROLE, rules, result), stateDirOf(ctx.conf.raw))
            undo.clear()
            return result
          } catch (err) {
            if (err instanceof BridgeRace && attempt < MAX_ATTEMPTS) continue
            throw err instanceof BridgeRace ? normalizeError(err.cause) : err
          }
        }
      } catch (err) {
        await ctx.trace.step('rollback', () => undo.run(ctx.log))
        throw err
      }
    },

    async del(ctx) {
      const config = parseBridgeDelConfig(ctx.conf)
      const owner = ownerOf(config, ctx)
      const fw = firewall(ctx.sys, ctx.log)
      const tasks: Array<[string, Promise<unknown>]> = [['delete the veth pair', deleteVeth(ctx, config)]]
      if (config.ipamType) tasks.push(['release IPAM addresses', ctx.ipam.del(config.ipamType, ctx)])
      if (config.ipMasq && config.ipamType) {
        // Only the backends the ADD used when its record says so; all of them without a record (another plugin's
        // ADD, a crash before the record was written) or with one that cannot be read.
        const recorded = ctx.records?.read(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw))
        const intents = recordedIntents(recorded?.rules, 'masquerade')
        tasks.push(['remove ipMasq rules', Promise.all(fw.removable(backendsOf(intents)).map((b) => b.remove('masquerade', owner, intentsFor(intents, b.name))))])
      }
      if (config.macSpoofCheck) {
        // As in the reference, a spoof-check teardown failure (nft missing, say) is reported but does not fail DEL.
        const refId = `${ctx.env.containerId}-${ctx.env.ifname}`
        tasks.push(['remove the MAC spoof check', teardownSpoofCheck(ctx.sys, refId).catch((err: unknown) => ctx.log.warn(`MAC spoof check teardown of ${refId}: ${normalizeError(err).message}`))])
      }
      tasks.push(['remove the attachment record', Promise.resolve().then(() => ctx.records?.remove(recordKeyOf(ctx, RECORD_ROLE), stateDirOf(ctx.conf.raw)))])
      if (TEST_HOOKS) await ctx.pause?.('bridge:del-started')
      const settled = await ctx.trace.step('del', () => Promise.allSettled(tasks.map(([, p]) => p)))
      const errors = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${tasks[i]![0]}: ${normalizeError(s.reason).message}`] : []))
      if (errors.length > 0) {
        throw new CniError(ErrorCode.Internal, `DEL of ${ctx.env.containerId}/${ctx.env.ifname} failed: ${errors.join('; ')}`, { details: errors.join('\n') })
      }
    },

    async check(ctx) {
      const config = parseBridgeConfig(ctx.conf, ctx.env.args)
      const raw = configField(ctx.conf, 'prevResult')
      if (raw === undefined) throw new CniError(ErrorCode.InvalidConfig, 'Required prevResult missing')
      const prev = decodeResult(raw, ctx.conf.cniVersion, 'prevResult')
      // L2 has no IPAM to ask (the reference's cmdCheck in plugins/main/bridge/bridge.go asks anyway and fails).
      if (config.ipamType) await ctx.ipam.check(config.ipamType, ctx)
      await requireNetns(ctx)
      const [hostLinks, containerLinks, containerRoutes] = await Promise.all([
        ctx.sys.ip.links(),
        ctx.sys.ip.links({ dev: ctx.env.ifname, netns: ctx.env.netns }),
        ctx.sys.ip.routes({ netns: ctx.env.netns }),
      ])
      const problems = compareState(config, ctx.env.ifname, ctx.env.netns, prev, { hostLinks, containerLinks, containerRoutes })
      if (problems.length > 0) {
        const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
        throw new CniError(ErrorCode.Internal, `${problems[0]}${more}`, { details: problems.join('\n') })
      }
      if (config.ipMasq && config.ipamType) {
        const backend = await firewall(ctx.sys, ctx.log).select(config.ipMasqBackend)
        await backend.verify(masqFromResult(config, ctx, prev))
      }
    },

    async gc(ctx) {
      const config = parseBridgeConfig(ctx.conf, ctx.env.args)
      const valid = parseValidAttachments(ctx.conf.raw)
      const errors: string[] = []
      if (config.ipamType) await ctx.ipam.gc(config.ipamType, ctx).catch((err: unknown) => errors.push(`IPAM GC: ${normalizeError(err).message}`))
      // Without the key the runtime did not say what is valid, so nothing may be removed (spec 1.1 "GC"; docs/architecture.md).
      if (config.ipMasq && config.ipamType && valid) {
        const owners: Owner[] = valid.map((a) => ({ network: config.network, containerId: a.containerID, ifname: a.ifname }))
        for (const backend of await firewall(ctx.sys, ctx.log).usable()) {
          await backend.gc('masquerade', config.network, owners).catch((err: unknown) => errors.push(`${backend.name} GC: ${normalizeError(err).message}`))
        }
      }
      if (valid) {
        try {
          ctx.records?.prune(RECORD_ROLE, config.network, valid, stateDirOf(ctx.conf.raw))
        } catch (err) {
          errors.push(`attachment records: ${normalizeError(err).message}`)
        }
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `GC failed: ${errors.join('; ')}`, { details: errors.join('\n') })
    },

    // Code 50 (spec 1.1 STATUS) names the first reason an ADD could not succeed on this node now.
    async status(ctx) {
      const config = parseBridgeConfig(ctx.conf, ctx.env.args)
      await assertNodeReady(ctx.conf)
      if (config.ipamType) await ctx.ipam.status(config.ipamType, ctx)
      const notAvailable = (msg: string, cause?: unknown) => new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${msg}`, cause === undefined ? {} : { cause })
      const seen = await observe(ctx, config)
      if (seen.bridge && seen.bridge.kind !== 'bridge') {
        throw notAvailable(`"${config.bridge}" exists but is not a bridge (it is ${seen.bridge.kind ? `a ${seen.bridge.kind} device` : 'another kind of device'}): remove it or configure another bridge name`)
      }
      if (config.ipMasq || config.macSpoofCheck) {
        const probe = await firewall(ctx.sys, ctx.log).probe()
        if (config.ipMasq && config.ipMasqBackend && !probe[config.ipMasqBackend]) throw notAvailable(`ipMasqBackend ${config.ipMasqBackend} is not usable here`)
        if (config.ipMasq && !probe.iptables && !probe.nftables) throw notAvailable('ipMasq is set but neither iptables nor nftables is usable here')
        if (config.macSpoofCheck && !probe.nftables) throw notAvailable('macspoofchk needs nftables, which is not usable here')
      }
      try {
        ctx.records?.assertWritable(stateDirOf(ctx.conf.raw))
      } catch (err) {
        throw notAvailable(normalizeError(err).message, err)
      }
    },
  }
}

async function requireNetns(ctx: Context): Promise<void> {
  // The path goes into an ip -batch line ("... netns <path>"), which splits on whitespace and stops at '#'.
  if (/[\s#"'\\]/.test(ctx.env.netns)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_NETNS contains whitespace, #, a quote or a backslash', { details: ctx.env.netns })
  }
  const state = await ctx.sys.netns.state(ctx.env.netns)
  if (state !== 'ok') {
    throw new CniError(ErrorCode.Internal, `failed to open netns "${ctx.env.netns}": ${state === 'missing' ? 'no such file' : 'not a network namespace'}`)
  }
}

/** The bridge (and the VLAN gateway interface) as they are now. */
interface Seen {
  readonly bridge?: IpLink
  readonly pinned: boolean
  readonly vlanGateway?: IpLink
}

async function observe(ctx: Context, config: BridgeConfig): Promise<Seen> {
  const { ip, sysctl } = ctx.sys
  // The VLAN gateway carries addresses only in L3 mode with isGateway.
  const wantVlanGw = config.vlan !== 0 && config.isGateway && config.ipamType !== ''
  const [bridges, assignType, vlanGws] = await Promise.all([
    ip.links({ dev: config.bridge }),
    sysctl.linkAttr(config.bridge, 'addr_assign_type'),
    wantVlanGw ? ip.links({ dev: `${config.bridge}.${config.vlan}` }) : Promise.resolve([]),
  ])
  // NET_ADDR_SET (3): someone set the MAC explicitly, so it no longer follows the ports.
  return { ...(bridges[0] ? { bridge: bridges[0] } : {}), pinned: assignType === '3', ...(vlanGws[0] ? { vlanGateway: vlanGws[0] } : {}) }
}

function makePlan(ctx: Context, config: BridgeConfig, ipam: Result | undefined, seen: Seen, randomMac: () => string): BridgePlan {
  return buildPlan({
    config,
    containerId: ctx.env.containerId,
    ifname: ctx.env.ifname,
    netns: ctx.env.netns,
    ...(ipam ? { ipam } : {}),
    ...(seen.bridge ? { bridge: seen.bridge } : {}),
    bridgeMacPinned: seen.pinned,
    ...(seen.vlanGateway ? { vlanGateway: seen.vlanGateway } : {}),
    macs: { bridge: randomMac(), host: randomMac(), container: randomMac(), vlanGateway: randomMac(), vlanGatewayPeer: randomMac() },
  })
}

// Deleting one end of a veth pair removes both. With the netns: delete CNI_IFNAME inside it (this also finds
// pairs the reference plugin created, whose host names are random); without it: the host end by its
// deterministic name. A missing device is success either way (DEL is idempotent).
// A repeated ADD of a live attachment must fail before IPAM: host-local would hand back the addresses the running
// container holds, and rolling the failed ADD back would then release them under it. The host veth's name is
// deterministic, so its presence (one sysfs read) says the attachment exists.
async function refuseRepeatedAdd(ctx: Context, config: BridgeConfig): Promise<void> {
  const hostVeth = hostVethName(config.network, ctx.env.containerId, ctx.env.ifname)
  if ((await ctx.sys.sysctl.linkAttr(hostVeth, 'ifindex')) !== undefined) {
    throw new CniError(ErrorCode.Internal, `container ${ctx.env.containerId} is already attached to network ${config.network} as ${ctx.env.ifname} (host interface ${hostVeth} exists): DEL it before adding it again`)
  }
}

async function deleteVeth(ctx: Context, config: BridgeDelConfig): Promise<void> {
  const { ip } = ctx.sys
  const tolerate = (err: unknown) => {
    if (!ip.failure(err).noDevice) throw err
    return false
  }
  const netnsOk = ctx.env.netns !== '' && (await ctx.sys.netns.state(ctx.env.netns)) === 'ok'
  if (netnsOk) {
    const deleted = await ip.batch([{ op: 'link-del', name: ctx.env.ifname }], { netns: ctx.env.netns }).then(() => true, tolerate)
    if (deleted) return
  }
  await ip.batch([{ op: 'link-del', name: hostVethName(config.network, ctx.env.containerId, ctx.env.ifname) }]).catch(tolerate)
}

// What the record keeps of the plan: the firewall state this attachment owns, to be restored by reconcile.
async function bridgeRules(plan: BridgePlan, masqBackend: Promise<FirewallBackend> | undefined): Promise<RecordedRules> {
  const firewall = plan.masq && masqBackend ? [{ backend: (await masqBackend).name, intent: plan.masq }] : []
  return recordedRules(firewall, plan.spoofCheck)
}

function ownerOf(config: { readonly network: string }, ctx: Context): Owner {
  return { network: config.network, containerId: ctx.env.containerId, ifname: ctx.env.ifname }
}

function masqFromResult(config: BridgeConfig, ctx: Context, prev: Result): MasqIntent {
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.env.ifname && i.sandbox === ctx.env.netns)
  const addresses = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index).flatMap((ip) => {
    const net = parseCidr(ip.address)
    return net ? [net] : []
  })
  return { kind: 'masquerade', owner: ownerOf(config, ctx), addresses }
}

function defaultRandomMac(): string {
  const b = randomBytes(6)
  b[0] = (b[0]! & 0xfe) | 0x02 // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
}
