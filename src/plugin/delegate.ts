// Delegation to an IPAM plugin: in-process for tscni's own host-local, otherwise an exec found on CNI_PATH.
import * as z from 'zod/mini'
import { decodeWith, parseJson } from '../decode/go-json.ts'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { Exec } from '../system/index.ts'
import type { Verb } from './env.ts'
import { CniError, ErrorCode } from './errors.ts'
import type { Context, Delegate, RoleHandlers } from './role.ts'
import { decodeResult } from './version.ts'

/** What the delegate needs to find and run plugins. */
export interface DelegateDeps {
  readonly exec: Exec
  /** The process environment to pass to an executed plugin (CNI_COMMAND is overridden per call). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Roles that run in-process when `type` resolves to them (our own host-local). */
  inProcess(type: string, cniPath: readonly string[]): Promise<RoleHandlers | undefined>
}

const DELEGATE_TIMEOUT_MS = 5 * 60_000
const NOT_IPAM = new Set(['bridge', 'portmap', 'tscni-bridge', 'tscni-portmap', 'tscni'])

/** The delegate: in-process when possible (no second process start), else exec from CNI_PATH. */
export function createDelegate(deps: DelegateDeps): Delegate {
  const resolve = async (type: string, ctx: Context): Promise<RoleHandlers | undefined> => {
    if (!type || type.includes('/')) throw new CniError(ErrorCode.InvalidConfig, `invalid IPAM plugin type ${JSON.stringify(type)}`)
    // A main plugin as IPAM would delegate to itself without end.
    if (NOT_IPAM.has(type)) throw new CniError(ErrorCode.InvalidConfig, `invalid ipam.type "${type}": it is not an IPAM plugin`)
    return deps.inProcess(type, ctx.env.path)
  }
  const nested = (ctx: Context, verb: Verb): Context => ({ ...ctx, env: { ...ctx.env, verb } })
  const simple = (verb: 'DEL' | 'CHECK' | 'GC' | 'STATUS', method: 'del' | 'check' | 'gc' | 'status') =>
    async (type: string, ctx: Context): Promise<void> => {
      const own = await resolve(type, ctx)
      if (own) await own[method](nested(ctx, verb))
      else await execPlugin(deps, verb, type, ctx)
    }
  return {
    async add(type, ctx) {
      const own = await resolve(type, ctx)
      if (own) return own.add(nested(ctx, 'ADD'))
      const stdout = await execPlugin(deps, 'ADD', type, ctx)
      let parsed: unknown
      try {
        parsed = parseJson(stdout)
      } catch (err) {
        throw new CniError(ErrorCode.DecodingFailure, `IPAM plugin ${type} printed a result that is not JSON`, { details: stdout, cause: err })
      }
      return decodeResult(parsed, ctx.conf.cniVersion, `IPAM plugin ${type} result`)
    },
    del: simple('DEL', 'del'),
    check: simple('CHECK', 'check'),
    gc: simple('GC', 'gc'),
    status: simple('STATUS', 'status'),
  }
}

/** Finds `<dir>/<type>` as a regular (or linked-to regular) file in CNI_PATH order, like libcni's FindInPath. */
export async function findInPath(type: string, cniPath: readonly string[]): Promise<string | undefined> {
  for (const dir of cniPath) {
    const candidate = join(dir, type)
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

async function execPlugin(deps: DelegateDeps, verb: Verb, type: string, ctx: Context): Promise<string> {
  const file = await findInPath(type, ctx.env.path)
  if (!file) {
    throw new CniError(ErrorCode.InvalidConfig, `failed to find plugin "${type}" in path [${ctx.env.path.join(' ')}]`)
  }
  const env = { ...deps.env, CNI_COMMAND: verb }
  // Some IPAM plugins take long (dhcp waits for a lease): the runtime's own timeout is the one that should apply.
  const res = await deps.exec.run(file, [], { input: ctx.stdin, allowFailure: true, env, timeoutMs: DELEGATE_TIMEOUT_MS })
  if (res.stderr.trim()) ctx.log.info(`${type}: ${res.stderr.trim()}`)
  if (res.exitCode === 0) return res.stdout
  throw pluginError(type, verb, res.stdout, res.stderr, res.exitCode)
}

// The spec's error JSON as a delegate prints it (Go's types.Error; keys matched as Go does).
const errorSchema = z.object({ code: z.int(), msg: z.string(), details: z.optional(z.string()) })

function pluginError(type: string, verb: Verb, stdout: string, stderr: string, exitCode: number): CniError {
  try {
    const decoded = decodeWith(errorSchema, parseJson(stdout))
    if (decoded.ok) return new CniError(decoded.data.code, decoded.data.msg, decoded.data.details ? { details: decoded.data.details } : {})
  } catch {
    // fall through: not an error JSON
  }
  const said = stderr.trim() || stdout.trim()
  return new CniError(ErrorCode.Internal, `IPAM plugin ${type} failed on ${verb} (exit status ${exitCode})${said ? `: ${said}` : ''}`)
}
