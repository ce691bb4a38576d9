// The firewall role: accepts forwarded traffic to and from the container's addresses and, with ingressPolicy,
// isolates its bridge, through the firewall backends. Chained after bridge (podman, nerdctl, Nomad chain it).
import type { BackendName } from '../firewall/backend.ts'
import { backendsOf, intentsFor, parseRecordedRules, recordedRules, type RecordedIntent } from '../firewall/intent-json.ts'
import type { FirewallIntent, IsolationIntent, Owner } from '../firewall/model.ts'
import { assertFirewallRoleReady } from '../firewall/status.ts'
import { createFirewall, type FirewallFactory } from '../firewall/select.ts'
import { recordKeyOf, recordOfAdd, stateDirOf, type AttachmentRecord } from '../plugin/attachment-record.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { CniError, ErrorCode, invalidConfig, normalizeError } from '../plugin/errors.ts'
import type { Result } from '../plugin/result.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import { compareVersions, decodeResult } from '../plugin/version.ts'
import { parseFirewallConfig, type FirewallConfig } from './config.ts'
import { firewalldError, firewalldRunning } from './firewalld.ts'
import { firewallIntents } from './plan.ts'

/** What the role needs besides the Context (seams for handler tests). */
export interface FirewallRoleDeps {
  readonly firewall: FirewallFactory
  firewalldRunning(): boolean
}

/** The role name in attachment records. */
export const FIREWALL_RECORD_ROLE = 'firewall'

const realDeps: FirewallRoleDeps = { firewall: createFirewall, firewalldRunning: () => firewalldRunning() }

/** Builds the firewall role's handlers. */
export function createFirewallRole(deps: FirewallRoleDeps = realDeps): RoleHandlers {
  // The backend the config asks for; firewalld, configured or running under the automatic choice, is refused.
  const configured = (config: FirewallConfig): BackendName | undefined => {
    if (config.backend === 'firewalld') throw firewalldError(true)
    if (config.backend === undefined && deps.firewalldRunning()) throw firewalldError(false)
    return config.backend
  }

  // ADD and CHECK read the same inputs: the version gate, the config, prevResult and the intents it asks for.
  const verbInputs = (ctx: Context) => {
    requireVersion(ctx)
    const config = parseFirewallConfig(ctx.conf.raw)
    const prev = prevResultOf(ctx, config)
    return { config, prev, wanted: configured(config), intents: firewallIntents(config, ownerOf(ctx), prev) }
  }

  return {
    about: 'tscni firewall: accepts forwarding for container addresses and isolates bridges (iptables or nftables), chained after bridge',

    async add(ctx) {
      const { prev, wanted, intents } = verbInputs(ctx)
      if (intents.length === 0) return prev
      const backend = await deps.firewall(ctx.sys, ctx.log).select(wanted)
      const stateDir = stateDirOf(ctx.conf.raw)
      // Recorded before the rules: a DEL of another attachment on the bridge, counting the bridge's attachments
      // under the lock meanwhile, then sees this one and keeps the isolation rules.
      const record = (name: BackendName) => recordOfAdd(ctx, FIREWALL_RECORD_ROLE, recordedRules(intents.map((intent) => ({ backend: name, intent }))), prev)
      ctx.records?.write(record(backend.name), stateDir)
      const before = backend.name
      try {
        await ctx.trace.step(`${backend.name} ensure`, async () => {
          if (backend.ensureAll) await backend.ensureAll(intents)
          else for (const i of intents) await backend.ensure(i)
        })
        // The automatic choice may have moved to nftables during the call: the record names where the rules are.
        if (backend.name !== before) ctx.records?.write(record(backend.name), stateDir)
      } catch (err) {
        const recorded = intents.map((intent) => ({ backend: backend.name, intent }))
        await removeAll(ctx, recorded, otherRecords(ctx)).catch((e: unknown) => ctx.log.warn(`rollback of firewall rules failed: ${String(e)}`))
        try {
          ctx.records?.remove(recordKeyOf(ctx, FIREWALL_RECORD_ROLE), stateDir)
        } catch (e) {
          ctx.log.warn(`removing the record after a failed ADD failed: ${String(e)}`)
        }
        throw err
      }
      return prev
    },

    async del(ctx) {
      requireVersion(ctx)
      // Unlike the reference, DEL removes what ADD added without prevResult: from the record, else from prevResult.
      let config: FirewallConfig | undefined
      try {
        config = parseFirewallConfig(ctx.conf.raw)
      } catch (err) {
        ctx.log.warn(`DEL continues despite an unreadable config: ${normalizeError(err).message}`)
      }
      const stateDir = stateDirOf(ctx.conf.raw)
      const key = recordKeyOf(ctx, FIREWALL_RECORD_ROLE)
      const record = ctx.records?.read(key, stateDir)
      let recorded: RecordedIntent[] | undefined = record ? parseRecordedRules(record.rules).firewall : undefined
      if (!recorded && config && config.prevResult !== undefined && config.prevResult !== null) {
        try {
          const intents = firewallIntents(config, ownerOf(ctx), decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult'))
          recorded = (['iptables', 'nftables'] as const).flatMap((b) => intents.map((intent) => ({ backend: b, intent })))
        } catch (err) {
          ctx.log.warn(`DEL cannot read prevResult: ${normalizeError(err).message}`)
        }
      }
      const errors: string[] = []
      try {
        await removeAll(ctx, recorded, otherRecords(ctx))
      } catch (err) {
        errors.push(normalizeError(err).message)
      }
      try {
        ctx.records?.remove(key, stateDir)
      } catch (err) {
        errors.push(normalizeError(err).message)
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `firewall DEL failed: ${errors.join('; ')}`)
    },

    async check(ctx) {
      const { wanted, intents } = verbInputs(ctx)
      if (intents.length === 0) return
      const backend = await deps.firewall(ctx.sys, ctx.log).select(wanted)
      for (const intent of intents) await backend.verify(intent)
    },

    async gc(ctx) {
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined) return
      const stateDir = stateDirOf(ctx.conf.raw)
      const keep = new Set(valid.map((a) => `${a.containerID}\u0000${a.ifname}`))
      const all = ctx.records?.list?.(FIREWALL_RECORD_ROLE, stateDir) ?? []
      const isStale = (r: AttachmentRecord) => r.network === ctx.conf.name && !keep.has(`${r.containerId}\u0000${r.ifname}`)
      const errors: string[] = []
      for (const stale of all.filter(isStale)) {
        const recorded = parseRecordedRules(stale.rules).firewall
        const others = () => all.filter((r) => r !== stale && !isStale(r))
        await removeAll({ ...ctx, env: { ...ctx.env, containerId: stale.containerId, ifname: stale.ifname } }, recorded, others)
          .catch((err: unknown) => errors.push(`${stale.containerId}/${stale.ifname}: ${normalizeError(err).message}`))
      }
      // nftables rules name their owner: those of attachments without a record go too.
      const owners: Owner[] = valid.map((a) => ({ network: ctx.conf.name, containerId: a.containerID, ifname: a.ifname }))
      for (const backend of await deps.firewall(ctx.sys, ctx.log).usable()) {
        await backend.gc('forward-accept', ctx.conf.name, owners).catch((err: unknown) => errors.push(`${backend.name}: ${normalizeError(err).message}`))
      }
      try {
        ctx.records?.prune(FIREWALL_RECORD_ROLE, ctx.conf.name, valid, stateDir)
      } catch (err) {
        errors.push(`attachment records: ${normalizeError(err).message}`)
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `firewall GC failed: ${errors.join('; ')}`)
    },

    async status(ctx) {
      const config = parseFirewallConfig(ctx.conf.raw)
      let wanted: BackendName | undefined
      try {
        wanted = configured(config)
      } catch (err) {
        throw new CniError(ErrorCode.NotAvailable, normalizeError(err).message, { cause: err })
      }
      await assertFirewallRoleReady(deps.firewall(ctx.sys, ctx.log), wanted, ctx.records, stateDirOf(ctx.conf.raw))
    },
  }

  // Removes an attachment's accept rules (by record or owner) and, where no other attachment's record isolates the
  // same bridge, that bridge's isolation rules: unlike the reference, they go with the bridge's last attachment.
  async function removeAll(ctx: Context, recorded: readonly RecordedIntent[] | undefined, others: () => AttachmentRecord[]): Promise<void> {
    const owner = ownerOf(ctx)
    const errors: string[] = []
    const firewall = deps.firewall(ctx.sys, ctx.log)
    for (const backend of firewall.removable(backendsOf(recorded))) {
      await backend.remove('forward-accept', owner, intentsFor(recorded, backend.name)).catch((err: unknown) => errors.push(`${backend.name}: ${normalizeError(err).message}`))
    }
    const isolations = (recorded ?? []).filter((r): r is RecordedIntent & { intent: IsolationIntent } => r.intent.kind === 'isolation')
    if (isolations.length > 0) {
      const doomed = isolations.filter((r) => !otherIsolations(others()).has(`${r.backend} ${r.intent.bridge}`))
      for (const backend of firewall.removable(backendsOf(doomed))) {
        const mine: FirewallIntent[] | undefined = intentsFor(doomed, backend.name)
        if (!mine || mine.length === 0) continue
        await backend.remove('isolation', owner, mine).catch((err: unknown) => errors.push(`${backend.name}: ${normalizeError(err).message}`))
      }
      // An ADD on the bridge writes its record before its rules: one recorded since the look above may have had its
      // rules installed before the removal, so they are ensured again (the backends' lock is taken per call).
      const now = otherIsolations(others())
      for (const r of doomed) {
        const again = now.get(`${r.backend} ${r.intent.bridge}`)
        if (again) await (await firewall.select(r.backend)).ensure(again).catch((err: unknown) => errors.push(`${r.backend}: ${normalizeError(err).message}`))
      }
    }
    if (errors.length > 0) throw new CniError(ErrorCode.Internal, errors.join('; '))
  }
}

// The isolation intents other attachments' records hold, by "<backend> <bridge>".
function otherIsolations(records: readonly AttachmentRecord[]): Map<string, IsolationIntent> {
  const out = new Map<string, IsolationIntent>()
  for (const r of records.flatMap((x) => parseRecordedRules(x.rules).firewall)) {
    if (r.intent.kind === 'isolation') out.set(`${r.backend} ${r.intent.bridge}`, r.intent)
  }
  return out
}

// The reference supports 0.4.0 and newer only (version.PluginSupports("0.4.0")), for every verb.
function requireVersion(ctx: Context): void {
  if (compareVersions(ctx.conf.cniVersion, '0.4.0') < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, 'incompatible CNI versions', {
      details: `config is "${ctx.conf.cniVersion}", the firewall plugin supports 0.4.0, 1.0.0, 1.1.0`,
    })
  }
}

// The node's other firewall attachments (not the current one), read when removeAll needs them.
function otherRecords(ctx: Context): () => AttachmentRecord[] {
  const key = recordKeyOf(ctx, FIREWALL_RECORD_ROLE)
  return () => (ctx.records?.list?.(FIREWALL_RECORD_ROLE, stateDirOf(ctx.conf.raw)) ?? [])
    .filter((r) => !(r.network === key.network && r.containerId === key.containerId && r.ifname === key.ifname))
}

function ownerOf(ctx: Context): Owner {
  return { network: ctx.conf.name, containerId: ctx.env.containerId, ifname: ctx.env.ifname }
}

function prevResultOf(ctx: Context, config: FirewallConfig): Result {
  if (config.prevResult === undefined || config.prevResult === null) throw invalidConfig('missing prevResult from earlier plugin')
  return decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult')
}
