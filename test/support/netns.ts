// Throwaway network namespaces for integration tests: a "host" the plugin runs in, and "containers".
// Everything a test creates lives inside them, so deleting them removes bridges, veths and firewall rules too.
import { randomBytes } from 'node:crypto'
import { execa, type Result } from 'execa'

/** A named namespace under /run/netns. */
export interface TestNetns {
  readonly name: string
  readonly path: string
  /** Runs a command inside the namespace; rejects on a non-zero exit. */
  exec(cmd: string, args: readonly string[], options?: { input?: string; reject?: boolean; timeout?: number }): Promise<Result>
  /** `ip -j ...` inside the namespace, parsed. */
  ipJson<T = unknown>(args: readonly string[]): Promise<T>
}

/** Tracks every namespace a test creates and removes them all in `cleanup()`, which never throws. */
export class NetnsPool {
  private readonly created: string[] = []

  /** Creates a namespace with loopback up. The prefix keeps names recognisable in `ip netns list`. */
  async create(prefix = 'tscni-t'): Promise<TestNetns> {
    const name = `${prefix}-${randomBytes(4).toString('hex')}`
    await execa('ip', ['netns', 'add', name])
    this.created.push(name)
    const ns = handle(name)
    await ns.exec('ip', ['link', 'set', 'lo', 'up'])
    return ns
  }

  /** Deletes every namespace created through this pool. */
  async cleanup(): Promise<void> {
    for (const name of this.created.splice(0)) {
      await execa('ip', ['netns', 'del', name], { reject: false })
    }
  }
}

/** A handle on an existing named namespace. */
export function handle(name: string): TestNetns {
  const exec = (cmd: string, args: readonly string[], options: { input?: string; reject?: boolean; timeout?: number } = {}) =>
    execa('ip', ['netns', 'exec', name, cmd, ...args], {
      input: options.input,
      reject: options.reject ?? true,
      timeout: options.timeout ?? 30_000,
    })
  return {
    name,
    path: `/run/netns/${name}`,
    exec,
    async ipJson<T>(args: readonly string[]) {
      const res = await exec('ip', ['-j', ...args])
      return JSON.parse(res.stdout || '[]') as T
    },
  }
}
