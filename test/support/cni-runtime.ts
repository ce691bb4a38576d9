// A small container runtime for tests, the demo and benchmarks, doing what libcni does with a config list:
// per-plugin stdin (name, cniVersion, prevResult, runtimeConfig from capabilities), ADD in order, CHECK and DEL
// with the cached result, DEL in reverse order, GC with the valid attachments, STATUS.
import { execa } from 'execa'
import { readFileSync } from 'node:fs'

/** A network configuration list as found in /etc/cni/net.d. */
export interface ConfList {
  cniVersion: string
  name: string
  plugins: Array<Record<string, unknown> & { type: string }>
  disableCheck?: boolean
  disableGC?: boolean
}

/** One attachment of a container to the network. */
export interface Attachment {
  readonly containerId: string
  /** Network namespace path; may be '' on DEL (netns already gone). */
  readonly netns: string
  readonly ifname: string
  /** Capability arguments, e.g. { portMappings: [...] } or { mac: '...' }. */
  readonly capabilityArgs?: Record<string, unknown>
  /** CNI_ARGS pairs. */
  readonly cniArgs?: ReadonlyArray<readonly [string, string]>
}

/** Where plugins are found and in which namespace they run. */
export interface RuntimeOptions {
  /** CNI_PATH: the directory holding the plugins named by `type`. */
  readonly binDir: string
  /** Name of the network namespace (under /run/netns) the plugins run in, standing in for the host. */
  readonly hostNetns?: string
  /** Extra environment for every plugin. */
  readonly env?: Record<string, string>
}

/** A failed plugin call, with the plugin's error JSON when it printed one. */
export class PluginFailure extends Error {
  readonly type: string
  readonly verb: string
  readonly exitCode: number
  readonly error: { code?: number; msg?: string; details?: string } | undefined
  readonly stderr: string

  constructor(type: string, verb: string, exitCode: number, error: PluginFailure['error'], stderr: string) {
    super(`plugin type="${type}" failed (${verb.toLowerCase()}): ${error?.msg ?? `exit ${exitCode}`}${error?.details ? ` (${error.details})` : ''}${stderr ? `\nstderr: ${stderr}` : ''}`)
    this.type = type
    this.verb = verb
    this.exitCode = exitCode
    this.error = error
    this.stderr = stderr
  }
}

/** Loads a .conflist file. */
export function loadConfList(path: string): ConfList {
  return JSON.parse(readFileSync(path, 'utf8')) as ConfList
}

/** Runs verbs of one config list like libcni, keeping the ADD results as its cache. */
export class CniRuntime {
  private readonly cache = new Map<string, unknown>()
  readonly conf: ConfList
  readonly options: RuntimeOptions

  constructor(conf: ConfList, options: RuntimeOptions) {
    this.conf = conf
    this.options = options
  }

  /** ADD through every plugin in order; returns the final result (the cached one). */
  async add(att: Attachment): Promise<any> {
    let prev: unknown
    for (const plugin of this.conf.plugins) {
      prev = await this.exec('ADD', plugin, att, this.stdin(plugin, att, prev))
    }
    this.cache.set(key(att), prev)
    return prev
  }

  /** CHECK every plugin in order with the cached result (config versions >= 0.4.0). */
  async check(att: Attachment): Promise<void> {
    if (this.conf.disableCheck) return
    const cached = this.cache.get(key(att))
    for (const plugin of this.conf.plugins) await this.exec('CHECK', plugin, att, this.stdin(plugin, att, cached))
  }

  /** DEL every plugin in reverse order with the cached result, then forget it. */
  async del(att: Attachment): Promise<void> {
    const cached = this.cache.get(key(att))
    for (const plugin of [...this.conf.plugins].reverse()) await this.exec('DEL', plugin, att, this.stdin(plugin, att, cached))
    this.cache.delete(key(att))
  }

  /** GC every plugin with the given valid attachments (both key spellings, as libcni sends). */
  async gc(valid: ReadonlyArray<{ containerId: string; ifname: string }>): Promise<void> {
    if (this.conf.disableGC) return
    const list = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifname }))
    for (const plugin of this.conf.plugins) {
      const stdin = { ...plugin, name: this.conf.name, cniVersion: this.conf.cniVersion, 'cni.dev/valid-attachments': list, 'cni.dev/attachments': list }
      await this.exec('GC', plugin, { containerId: '', netns: '', ifname: '' }, stdin)
    }
  }

  /** STATUS of every plugin; throws the first failure. */
  async status(): Promise<void> {
    for (const plugin of this.conf.plugins) {
      await this.exec('STATUS', plugin, { containerId: '', netns: '', ifname: '' }, { ...plugin, name: this.conf.name, cniVersion: this.conf.cniVersion })
    }
  }

  /**
   * One verb of one plugin of the list (by `type`), with the cached ADD result as prevResult, as a runtime would
   * send it: for re-running a single chained plugin (a repeated portmap ADD) without repeating the whole chain.
   */
  async runOne(verb: 'ADD' | 'CHECK' | 'DEL', type: string, att: Attachment): Promise<unknown> {
    const plugin = this.conf.plugins.find((p) => p.type === type)
    if (!plugin) throw new Error(`no plugin of type "${type}" in ${this.conf.name}`)
    // The prevResult a chained plugin gets on ADD is its predecessor's result; for the last plugin (portmap) that
    // equals the cached final result, since portmap passes it through unchanged.
    return this.exec(verb, plugin, att, this.stdin(plugin, att, this.cache.get(key(att))))
  }

  /** The cached ADD result of an attachment. */
  cached(att: Attachment): any {
    return this.cache.get(key(att))
  }

  private stdin(plugin: ConfList['plugins'][number], att: Attachment, prev: unknown): Record<string, unknown> {
    const out: Record<string, unknown> = { ...plugin, name: this.conf.name, cniVersion: this.conf.cniVersion }
    if (prev !== undefined) out.prevResult = prev
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>
    const runtimeConfig: Record<string, unknown> = {}
    for (const [cap, value] of Object.entries(att.capabilityArgs ?? {})) if (caps[cap]) runtimeConfig[cap] = value
    if (Object.keys(runtimeConfig).length > 0) out.runtimeConfig = runtimeConfig
    return out
  }

  private async exec(verb: string, plugin: { type: string }, att: Attachment, stdin: unknown): Promise<unknown> {
    const file = `${this.options.binDir}/${plugin.type}`
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: verb,
      CNI_CONTAINERID: att.containerId,
      CNI_NETNS: att.netns,
      CNI_IFNAME: att.ifname,
      CNI_ARGS: (att.cniArgs ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.options.binDir,
      // TSCNI_NETLINK=0 in the test run's environment runs the whole suite over iproute2 instead of netlink.
      ...(process.env.TSCNI_NETLINK ? { TSCNI_NETLINK: process.env.TSCNI_NETLINK } : {}),
      // Attachment records go where the test run says (global-setup), never into the machine's own state dir.
      ...(process.env.TSCNI_STATE_DIR ? { TSCNI_STATE_DIR: process.env.TSCNI_STATE_DIR } : {}),
      ...this.options.env,
    }
    const [cmd, args] = this.options.hostNetns ? ['ip', ['netns', 'exec', this.options.hostNetns, file]] : [file, []]
    const res = await execa(cmd, args, { input: JSON.stringify(stdin), env, extendEnv: false, reject: false, timeout: 60_000 })
    if (res.exitCode !== 0) {
      let error: PluginFailure['error']
      try {
        error = JSON.parse(res.stdout)
      } catch {
        error = undefined
      }
      throw new PluginFailure(plugin.type, verb, res.exitCode ?? -1, error, res.stderr)
    }
    return verb === 'ADD' ? JSON.parse(res.stdout) : undefined
  }
}

function key(att: Attachment): string {
  return `${att.containerId}/${att.ifname}`
}
