// Runs the built executable as a CNI runtime would: through a role link, verb and ids in CNI_* env, config on stdin,
// inside the test's host namespace. Logs the invocation when the reply is not what the test expected.
import { execa } from 'execa'
import { inject } from 'vitest'
import type { TestNetns } from './netns.ts'

/** One plugin invocation. */
export interface PluginCall {
  /** Link name in the test bin dir: tscni-bridge, host-local, ... */
  readonly role: string
  readonly verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION' | ''
  readonly config?: unknown
  /** Raw stdin instead of JSON.stringify(config). */
  readonly stdin?: string
  readonly containerId?: string
  readonly netns?: string
  readonly ifname?: string
  readonly args?: string
  /** Extra or overriding environment (undefined removes a variable). */
  readonly env?: Record<string, string | undefined>
  /** The namespace to run in; without it the plugin runs in the test process's namespace (only for verbs that touch nothing). */
  readonly host?: TestNetns
  /** Bin dir to use instead of the shared one (for CNI_PATH and the link). */
  readonly binDir?: string
}

/** What the plugin did. */
export interface PluginReply {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed as JSON, or undefined when empty. */
  readonly json: any
}

/** The directory holding the executable and its role links (prepared by global-setup). */
export function binDir(): string {
  return inject('binDir')
}

/** Runs the plugin and returns its reply; never throws on a plugin failure. */
export async function runPlugin(call: PluginCall): Promise<PluginReply> {
  const dir = call.binDir ?? binDir()
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    CNI_COMMAND: call.verb || undefined,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname,
    CNI_ARGS: call.args,
    CNI_PATH: dir,
    // TSCNI_NETLINK=0 in the test run's environment runs the whole suite over iproute2 instead of netlink.
    TSCNI_NETLINK: process.env.TSCNI_NETLINK,
    // Attachment records go where the test run says (global-setup), never into the machine's own state dir.
    TSCNI_STATE_DIR: process.env.TSCNI_STATE_DIR,
    ...call.env,
  }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  const file = `${dir}/${call.role}`
  const [cmd, args] = call.host ? ['ip', ['netns', 'exec', call.host.name, file]] : [file, []]
  const res = await execa(cmd, args, {
    input: call.stdin ?? (call.config === undefined ? '' : JSON.stringify(call.config)),
    env,
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  })
  let json: unknown
  if (res.stdout.trim()) {
    try {
      json = JSON.parse(res.stdout)
    } catch {
      json = undefined
    }
  }
  return { exitCode: res.exitCode ?? -1, stdout: res.stdout, stderr: res.stderr, json }
}

/** Like runPlugin, but fails the test with the whole exchange when the exit status is not 0. */
export async function runOk(call: PluginCall): Promise<PluginReply> {
  const reply = await runPlugin(call)
  if (reply.exitCode !== 0) {
    throw new Error(`${call.role} ${call.verb} failed (exit ${reply.exitCode})\nstdout: ${reply.stdout}\nstderr: ${reply.stderr}\nconfig: ${call.stdin ?? JSON.stringify(call.config)}`)
  }
  return reply
}
