// Runs one CNI invocation for a role: verb, env, stdin, version gate, handler, and exactly one stdout payload.
import type { System } from '../system/index.ts'
import { configField, decodeNetConf, type NetConf } from './config.ts'
import { parseEnv, readVerb, type CniEnv, type Verb } from './env.ts'
import { CniError, ErrorCode, normalizeError, toErrorJson } from './errors.ts'
import { versionBanner } from './banner.ts'
import { ROLE_NAMES, type Context, type RoleHandlers, type RoleName } from './role.ts'
import { encodeResult, LATEST_VERSION, SUPPORTED_VERSIONS, versionReply } from './version.ts'

/** What the process should do once a verb is finished. */
export interface Outcome {
  readonly stdout: string
  /** Text for people (about text); diagnostics go through the logger instead. */
  readonly stderr: string
  readonly exitCode: number
}

/** Facts about one plugin invocation, for the JSON-lines log. */
export interface InvocationRecord {
  verb?: Verb
  containerId?: string
  ifname?: string
  network?: string
  cniVersion?: string
  error?: { code: number; msg: string }
  /** `logFile` from the config, when set: where the JSON-lines record goes. */
  logFile?: string
  /** A short summary of the ADD result: the addresses. */
  addresses?: string[]
}

/** How the executable was invoked. */
export type Invocation = { kind: 'role'; role: RoleName; args: readonly string[] } | { kind: 'cli'; args: readonly string[] } | { kind: 'unknown'; name: string }

/**
 * Resolves the role from the name the executable was invoked as (a link such as "bridge" or "tscni-portmap"),
 * or from the first argument when invoked as tscni itself ("tscni bridge", busybox style).
 */
export function resolveInvocation(invokedAs: string, args: readonly string[]): Invocation {
  const name = invokedAs.replace(/\.(mjs|cjs|js)$/, '')
  const asRole = (n: string): RoleName | undefined => {
    const bare = n.startsWith('tscni-') ? n.slice('tscni-'.length) : n
    return (ROLE_NAMES as readonly string[]).includes(bare) ? (bare as RoleName) : undefined
  }
  const role = asRole(name)
  if (role) return { kind: 'role', role, args }
  if (name === 'tscni') {
    const first = args[0]
    const sub = first === undefined ? undefined : asRole(first)
    return sub ? { kind: 'role', role: sub, args: args.slice(1) } : { kind: 'cli', args }
  }
  return { kind: 'unknown', name }
}

/** I/O and composition handed in by main.ts. */
export interface PluginIo {
  readonly env: Readonly<Record<string, string | undefined>>
  readStdin(): Promise<string>
  readonly sys: System
  /** The role's standard name, for the version banner (`CNI <role> plugin v…`); without it, the about text alone. */
  readonly role?: RoleName
  /** Builds the handler context once env and config are known. */
  makeContext(env: CniEnv, conf: NetConf, stdin: string): Context
}

/** Runs one verb of `role`; never throws: every failure becomes error JSON on stdout and exit status 1. */
export async function runPlugin(role: RoleHandlers, io: PluginIo, record: InvocationRecord = {}): Promise<Outcome> {
  let cniVersion = LATEST_VERSION
  try {
    const verb = readVerb(io.env)
    if (verb === undefined) {
      // The banner first, so runtimes that parse it (nerdctl, Nomad) read the reference's wording; then what tscni is.
      const versions = role.versions ?? SUPPORTED_VERSIONS
      const banner = io.role ? versionBanner(io.role, versions) : `CNI protocol versions supported: ${versions.join(', ')}\n`
      return { stdout: '', stderr: io.role ? `${banner}${role.about}\n` : `${role.about}\n${banner}`, exitCode: 0 }
    }
    record.verb = verb
    // The reference does not read stdin for VERSION, so a person typing the command is not left waiting.
    if (verb === 'VERSION') {
      const reply = role.versions ? { ...versionReply(), supportedVersions: [...role.versions] } : versionReply()
      return { stdout: `${JSON.stringify(reply)}\n`, stderr: '', exitCode: 0 }
    }
    const env = parseEnv(verb, io.env)
    Object.assign(record, { containerId: env.containerId || undefined, ifname: env.ifname || undefined })
    const stdin = await readStdin(io)
    const conf = decodeNetConf(stdin, verb, (version) => (cniVersion = version))
    Object.assign(record, { network: conf.name, cniVersion })
    if (role.versions && !role.versions.includes(conf.cniVersion)) {
      throw new CniError(ErrorCode.IncompatibleVersion, 'incompatible CNI versions', { details: `config is "${conf.cniVersion}", plugin supports ${JSON.stringify(role.versions)}` })
    }
    const logFile = configField(conf, 'logFile')
    if (typeof logFile === 'string' && logFile) record.logFile = logFile
    const ctx = io.makeContext(await guardOwnNetns(verb, env, io.sys), conf, stdin)
    const stdout = await runVerb(verb, role, ctx, record)
    return { stdout, stderr: '', exitCode: 0 }
  } catch (thrown) {
    const err = normalizeError(thrown)
    record.error = { code: err.code, msg: err.message }
    return { stdout: `${JSON.stringify(toErrorJson(err, cniVersion), null, 4)}\n`, stderr: '', exitCode: 1 }
  }
}

async function runVerb(verb: Exclude<Verb, 'VERSION'>, role: RoleHandlers, ctx: Context, record: InvocationRecord): Promise<string> {
  switch (verb) {
    case 'ADD': {
      const result = await role.add(ctx)
      record.addresses = result.ips?.map((ip) => ip.address)
      const printed = role.encode ? role.encode(result, ctx) : encodeResult(result, ctx.conf.cniVersion)
      return `${JSON.stringify(printed, null, 4)}\n`
    }
    case 'DEL':
      await role.del(ctx)
      return ''
    case 'CHECK':
      await role.check(ctx)
      return ''
    case 'GC':
      await role.gc(ctx)
      return ''
    case 'STATUS':
      await role.status(ctx)
      return ''
    default: {
      const never: never = verb
      throw new Error(`unhandled verb ${String(never)}`)
    }
  }
}

async function readStdin(io: PluginIo): Promise<string> {
  try {
    return await io.readStdin()
  } catch (err) {
    throw new CniError(ErrorCode.IoFailure, `error reading from stdin: ${(err as Error).message}`, { cause: err })
  }
}

// The reference runs this check after the handler; acting first could delete or reconfigure host interfaces.
// ADD and CHECK are refused. DEL goes on as if the namespace were gone (a stale /proc/PID/ns/net whose PID now
// names a host process, say): refusing would leak the addresses and rules on every retry, and a DEL without a
// namespace touches nothing inside one.
async function guardOwnNetns(verb: Verb, env: CniEnv, sys: System): Promise<CniEnv> {
  if (!['ADD', 'DEL', 'CHECK'].includes(verb) || !env.netns || env.netnsOverride) return env
  if (!(await sys.netns.isOwn(env.netns))) return env
  if (verb === 'DEL') return { ...env, netns: '' }
  throw new CniError(ErrorCode.InvalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same", { details: env.netns })
}
