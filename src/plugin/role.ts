// The contract between the protocol core and a role: the context a verb receives and the handlers it implements.
import type { System } from '../system/index.ts'
import type { AttachmentRecords } from './attachment-record.ts'
import type { Pause } from './test-pause.ts'
import type { NetConf } from './config.ts'
import type { CniEnv } from './env.ts'
import type { Logger } from './log.ts'
import type { Result } from './result.ts'

/** Records how long each named step of a verb took (for the JSON-lines log). */
export interface Tracer {
  step<T>(name: string, fn: () => Promise<T>): Promise<T>
}

/** Everything a verb handler may use. There is no other way to reach the host. */
export interface Context {
  readonly env: CniEnv
  readonly conf: NetConf
  /** stdin exactly as received: a delegated IPAM plugin must get identical bytes. */
  readonly stdin: string
  readonly sys: System
  /** The IPAM delegate (in-process for tscni's host-local, exec from CNI_PATH otherwise). */
  readonly ipam: Delegate
  readonly log: Logger
  readonly trace: Tracer
  /** tscni's per-attachment records; absent where nothing may be written (unit tests). */
  readonly records?: AttachmentRecords
  /** Test builds only: pauses at a named step (see test-pause.ts); call it only behind `if (TEST_HOOKS)`. */
  readonly pause?: Pause | undefined
}

/** Calls the IPAM plugin named by `type` with the caller's stdin and env, only the verb changed (spec "Delegation"); created by
 * `createDelegate` in delegate.ts. */
export interface Delegate {
  add(type: string, ctx: Context): Promise<Result>
  del(type: string, ctx: Context): Promise<void>
  check(type: string, ctx: Context): Promise<void>
  gc(type: string, ctx: Context): Promise<void>
  status(type: string, ctx: Context): Promise<void>
}

/** A CNI plugin role. ADD returns the internal result; dispatch prints it in the config's version. */
export interface RoleHandlers {
  /** One line for people, printed when the plugin runs without CNI_COMMAND. */
  readonly about: string
  /** The spec versions the role accepts, oldest first, when fewer than all (the reference's VersionsStartingFrom). */
  readonly versions?: readonly string[]
  add(ctx: Context): Promise<Result>
  /**
   * Writes the ADD result in the config's version, for a role whose reference prints something other than the
   * spec's conversion (loopback); without it, dispatch uses `encodeResult`.
   */
  encode?(result: Result, ctx: Context): Record<string, unknown>
  del(ctx: Context): Promise<void>
  check(ctx: Context): Promise<void>
  gc(ctx: Context): Promise<void>
  status(ctx: Context): Promise<void>
}

/** The CNI roles this executable can play, by their standard names. */
export const ROLE_NAMES = ['bridge', 'host-local', 'portmap', 'loopback', 'dnsname', 'tuning', 'bandwidth', 'firewall'] as const
/** One role name. */
export type RoleName = (typeof ROLE_NAMES)[number]

/** A tracer that only runs the steps (tests, nested delegates). */
export const noTrace: Tracer = { step: (_name, fn) => fn() }
