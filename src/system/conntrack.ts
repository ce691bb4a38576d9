// Deletes conntrack entries through conntrack(8): stale UDP entries keep sending a re-used host port to an old pod.
import type { Exec } from './exec.ts'
import { classifyFailure } from './failure.ts'

/** The conntrack port. */
export interface Conntrack {
  /**
   * Deletes UDP entries whose original destination port is one of `ports`, for the family. Resolves with the
   * ports whose deletion failed for a reason other than "nothing to delete" (callers log them: not fatal).
   */
  flushUdpPorts(family: 4 | 6, ports: readonly number[]): Promise<{ port: number; error: string }[]>
}

/** conntrack(8) through the command runner. */
export function createConntrack(exec: Exec): Conntrack {
  return {
    async flushUdpPorts(family, ports) {
      const failures: { port: number; error: string }[] = []
      await Promise.all(
        ports.map(async (port) => {
          const res = await exec
            .run('conntrack', ['-D', '-p', 'udp', '--orig-port-dst', String(port), '-f', family === 4 ? 'ipv4' : 'ipv6'], { allowFailure: true })
            .catch((err: Error) => ({ exitCode: -1, stderr: err.message, stdout: '' }))
          // Exit status 1 with "0 flow entries have been deleted" (reason not-found) just means there was nothing to flush.
          if (res.exitCode !== 0 && classifyFailure(res) !== 'not-found') failures.push({ port, error: res.stderr.trim() })
        }),
      )
      return failures
    },
  }
}
