// The tuning role: sysctls and link attributes (MAC, MTU, promisc, allmulticast, txqueuelen) of the container
// interface, set inside CNI_NETNS, the originals backed up at ADD and restored at DEL. Chained; with no options it
// only passes prevResult on, without touching the namespace (podman and nerdctl chain it so).
import { readFileSync } from 'node:fs'
import { goField } from '../decode/go-json.ts'
import { recordKeyOf, recordOfAdd } from '../plugin/attachment-record.ts'
import { parseValidAttachments } from '../plugin/attachments.ts'
import { CniError, ErrorCode, invalidConfig, normalizeError, wrapError } from '../plugin/errors.ts'
import { hasErrno } from '../plugin/fs-errors.ts'
import type { Context, RoleHandlers } from '../plugin/role.ts'
import type { Result } from '../plugin/result.ts'
import { decodeResult } from '../plugin/version.ts'
import { backupFile, readBackup, removeBackup, writeBackup } from './backup.ts'
import { checkAllowlist, DEFAULT_DATA_DIR, isPassThrough, parseTuningConfig, type TuningConfig } from './config.ts'
import { duplicateSysctlKeys } from './duplicates.ts'
import { addChanges, backupOf, changesLink, checkProblems, restoreChanges } from './plan.ts'

/** The reference's allowlist (plugins/meta/tuning/tuning.go): when the file exists, every sysctl key must match a line. */
export const DEFAULT_ALLOWLIST = '/etc/cni/tuning/allowlist.conf'

/** What the role needs besides the Context. */
export interface TuningDeps {
  /** The allowlist file (main passes TSCNI_TUNING_ALLOWLIST for tests; the reference's path otherwise). */
  readonly allowlist?: string
}

// The role name in attachment records.
const RECORD_ROLE = 'tuning'

/** Builds the tuning role's handlers. */
export function createTuning(deps: TuningDeps = {}): RoleHandlers {
  const allowlistFile = deps.allowlist || DEFAULT_ALLOWLIST
  return {
    about: 'tscni tuning: sysctls, MAC, MTU and link flags of the container interface, chained after the interface plugin',

    async add(ctx) {
      const config = parse(ctx)
      const prev = prevResultOf(ctx, config)
      if (isPassThrough(config)) return prev
      vetSysctls(config, allowlistFile)
      await requireNetns(ctx)
      const netns = ctx.env.netns
      const ifname = ctx.env.ifname
      const { links, sysctls } = await ctx.trace.step('inspect', () => ctx.sys.ip.inspect(ifname, netns, config.sysctls.map((s) => s.path)))
      const link = links.find((l) => l.ifname === ifname)
      if (!link) throw new CniError(ErrorCode.Internal, `failed to get "${ifname}": no such interface in netns "${netns}"`)
      const file = backupFile(config.dataDir, ctx.env.containerId, ifname)
      const backup = backupOf(config, link, sysctls)
      writeBackup(file, backup)
      const changes = addChanges(config, ifname)
      try {
        await ctx.trace.step('apply', () => ctx.sys.ip.batch(changes.ops, { netns, sysctls: changes.sysctls }))
        ctx.records?.write(recordOfAdd(ctx, RECORD_ROLE, null, undefined))
      } catch (err) {
        // Whatever part was applied is put back, so a failed ADD leaves the interface as it found it.
        const undo = restoreChanges(backup, ifname)
        await ctx.sys.ip.batch(undo.ops, { netns, sysctls: undo.sysctls }).catch((e: unknown) => ctx.log.warn(`rollback of tuning failed: ${normalizeError(e).message}`))
        removeBackup(file)
        throw changeError(err, config)
      }
      return withMac(prev, ifname, config.mac)
    },

    async del(ctx) {
      // DEL ignores what it cannot do, as the reference does, and needs neither prevResult nor a readable config.
      const dataDir = dataDirOf(ctx.conf.raw)
      const file = backupFile(dataDir, ctx.env.containerId, ctx.env.ifname)
      let backup
      try {
        backup = readBackup(file)
      } catch (err) {
        ctx.log.warn(normalizeError(err).message)
      }
      if (backup && ctx.env.netns && (await ctx.sys.netns.state(ctx.env.netns)) === 'ok') {
        const undo = restoreChanges(backup, ctx.env.ifname)
        await ctx.trace.step('restore', () => ctx.sys.ip.batch(undo.ops, { netns: ctx.env.netns, sysctls: undo.sysctls }))
          .catch((err: unknown) => ctx.log.warn(`tuning DEL could not restore ${ctx.env.ifname}: ${normalizeError(err).message}`))
      }
      for (const step of [() => removeBackup(file), () => ctx.records?.remove(recordKeyOf(ctx, RECORD_ROLE))]) {
        try {
          step()
        } catch (err) {
          ctx.log.warn(normalizeError(err).message)
        }
      }
    },

    async check(ctx) {
      const config = parse(ctx)
      prevResultOf(ctx, config)
      await requireNetns(ctx)
      const { links, sysctls } = await ctx.sys.ip.inspect(ctx.env.ifname, ctx.env.netns, config.sysctls.map((s) => s.path))
      const link = links.find((l) => l.ifname === ctx.env.ifname)
      if (!link) throw new CniError(ErrorCode.Internal, `Cannot find container link ${ctx.env.ifname}`)
      const problems = checkProblems(config, ctx.env.ifname, link, sysctls)
      if (problems.length > 0) throw new CniError(ErrorCode.Internal, problems[0]!, { details: problems.join('\n') })
    },

    async gc(ctx) {
      // Only backups whose attachment tscni recorded on this network go: the file name holds no network, and the
      // directory is shared with other networks (and the reference).
      const valid = parseValidAttachments(ctx.conf.raw)
      if (valid === undefined || !ctx.records) return
      const dataDir = dataDirOf(ctx.conf.raw)
      const errors: string[] = []
      try {
        for (const key of ctx.records.prune(RECORD_ROLE, ctx.conf.name, valid)) {
          try {
            removeBackup(backupFile(dataDir, key.containerId, key.ifname))
          } catch (err) {
            errors.push(normalizeError(err).message)
          }
        }
      } catch (err) {
        errors.push(`attachment records: ${normalizeError(err).message}`)
      }
      if (errors.length > 0) throw new CniError(ErrorCode.Internal, `tuning GC failed: ${errors.join('; ')}`)
    },

    async status(ctx) {
      parse(ctx)
      try {
        ctx.records?.assertWritable()
      } catch (err) {
        throw new CniError(ErrorCode.NotAvailable, `cannot serve an ADD: ${normalizeError(err).message}`, { cause: err })
      }
    },
  }
}

function parse(ctx: Context): TuningConfig {
  const dups = duplicateSysctlKeys(ctx.stdin)
  if (dups.length > 0) throw invalidConfig(`duplicated sysctl keys are not allowed: "${dups[0]}"`)
  return parseTuningConfig(ctx.conf.raw, ctx.env.args, ctx.env.ifname)
}

function prevResultOf(ctx: Context, config: TuningConfig): Result {
  if (config.prevResult === undefined) throw invalidConfig('Required prevResult missing')
  return decodeResult(config.prevResult, ctx.conf.cniVersion, 'prevResult')
}

// Read only when there are sysctls to vet: a pass-through, or a MAC-only call, must not fail on an unreadable file
// (containernetworking/plugins#826: rootless users cannot read it).
function vetSysctls(config: TuningConfig, file: string): void {
  if (config.sysctls.length === 0) return
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return
    throw wrapError(`cannot read the sysctl allowlist ${file}`, err)
  }
  checkAllowlist(config.sysctls, text, file)
}

function dataDirOf(raw: Readonly<Record<string, unknown>>): string {
  const v = goField(raw, 'dataDir')
  return typeof v === 'string' && v !== '' ? v : DEFAULT_DATA_DIR
}

// The kernel's refusal of a value (an MTU above the device's maximum, a sysctl that does not exist) names the change.
function changeError(err: unknown, config: TuningConfig): CniError {
  const what = [...config.sysctls.map((s) => `sysctl ${s.key}=${s.value}`), ...(changesLink(config) ? ['link attributes'] : [])].join(', ')
  return wrapError(`tuning could not apply ${what}`, err)
}

async function requireNetns(ctx: Context): Promise<void> {
  const state = await ctx.sys.netns.state(ctx.env.netns)
  if (state !== 'ok') {
    throw new CniError(ErrorCode.Internal, `failed to open netns "${ctx.env.netns}" (CNI_NETNS): ${state === 'missing' ? 'no such file' : 'not a network namespace'}`)
  }
}

// The result the chain goes on with: the reference sets the new MAC on every interface of that name.
function withMac(prev: Result, ifname: string, mac: string | undefined): Result {
  if (!mac || !prev.interfaces) return prev
  return { ...prev, interfaces: prev.interfaces.map((i) => (i.name === ifname ? { ...i, mac } : i)) }
}

