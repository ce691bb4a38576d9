// Parses the CNI_* environment into a typed CniEnv, validating names exactly as the reference skel does.
import { CniError, ErrorCode } from './errors.ts'

/** The CNI verbs. */
export const VERBS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const
/** One CNI verb. */
export type Verb = (typeof VERBS)[number]

type EnvName = 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_PATH'

// Which variables each verb requires (spec "Parameters"; CNI_PATH as the reference skel, not the looser spec).
const REQUIRED: Record<Verb, readonly EnvName[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
}

/**
 * `CNI_ARGS` as parsed pairs. Keys a role does not know are always ignored, so the `IgnoreUnknown` pair Kubernetes
 * runtimes send changes nothing (the reference fails on unknown keys without it; runtimes always send `K8S_POD_*`).
 */
export interface CniArgs {
  readonly pairs: ReadonlyArray<readonly [string, string]>
  /** Value of the first pair with this key (case-sensitive, as in the reference). */
  get(key: string): string | undefined
}

/** Everything a verb learns from the environment. Unused variables are empty strings. */
export interface CniEnv {
  readonly verb: Verb
  readonly containerId: string
  readonly netns: string
  readonly ifname: string
  readonly args: CniArgs
  /** CNI_PATH split on ':' with empty entries removed. */
  readonly path: readonly string[]
  /** CNI_NETNS_OVERRIDE: skip the "netns is the plugin's own" check (reference test hook). */
  readonly netnsOverride: boolean
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/** Reads CNI_COMMAND; undefined when unset or empty (the caller prints the "about" text). */
export function readVerb(env: Readonly<Record<string, string | undefined>>): Verb | undefined {
  const command = env.CNI_COMMAND
  if (!command) return undefined
  if (!(VERBS as readonly string[]).includes(command)) {
    throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`)
  }
  return command as Verb
}

/** Parses and validates the environment for `verb`; every missing variable is reported in one error (code 4). */
export function parseEnv(verb: Verb, env: Readonly<Record<string, string | undefined>>): CniEnv {
  const missing = REQUIRED[verb].filter((name) => !env[name])
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`)
  }
  const needs = (name: EnvName): boolean => REQUIRED[verb].includes(name)
  const containerId = needs('CNI_CONTAINERID') ? env.CNI_CONTAINERID ?? '' : ''
  if (containerId) validateContainerId(containerId)
  const ifname = needs('CNI_IFNAME') ? env.CNI_IFNAME ?? '' : ''
  if (ifname) validateIfname(ifname)
  const override = (env.CNI_NETNS_OVERRIDE ?? '').toLowerCase()
  return {
    verb,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter((dir) => dir !== ''),
    netnsOverride: override === '1' || override === 'true',
  }
}

/** Container ids must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, which also keeps them path-safe. */
export function validateContainerId(id: string): void {
  if (!CONTAINER_ID.test(id)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in containerID', { details: id })
  }
}

/** Interface names: 1-15 bytes, not "." or "..", no '/', ':' or whitespace (kernel IFNAMSIZ rules). */
export function validateIfname(name: string): void {
  const fail = (msg: string, details?: string): never => {
    throw new CniError(ErrorCode.InvalidEnvironment, msg, details === undefined ? {} : { details })
  }
  if (name === '') fail('interface name is empty')
  if (Buffer.byteLength(name, 'utf8') > 15) fail('interface name is too long', 'interface name should be less than 16 characters')
  if (name === '.' || name === '..') fail('interface name is . or ..')
  if (/[/:\s]/u.test(name)) fail('interface name contains / or : or whitespace characters', name)
  // Stricter than the reference: names reach ip -batch lines, where '#' starts a comment and quotes or a backslash
  // change how the line splits (a name like "eth0#x" would act on "eth0").
  if (/[#"'\\\p{Cc}]/u.test(name)) fail('interface name contains #, a quote, a backslash or a control character', name)
}

/** Parses `K1=V1;K2=V2`. A pair that is not exactly `K=V` is an error naming the pair (code 4). */
export function parseCniArgs(text: string): CniArgs {
  const pairs: Array<readonly [string, string]> = []
  for (const pair of text.split(';')) {
    if (pair === '') continue
    const parts = pair.split('=')
    if (parts.length !== 2) {
      throw new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS: invalid pair "${pair}"`)
    }
    const [key, value] = parts as [string, string]
    pairs.push([key, value])
  }
  return {
    pairs,
    get: (key) => pairs.find(([k]) => k === key)?.[1],
  }
}
