// Deletes conntrack entries: stale UDP entries keep sending a re-used host port to an old pod. Over ctnetlink
// in-process when the native addon is there (conntrack-netlink.ts), else through conntrack(8).
import { readFileSync } from 'node:fs'
import { conntrackDumpRequest, NETLINK_NETFILTER, udpDeleteRequests } from './conntrack-netlink.ts'
import type { Exec, RunTiming } from './exec.ts'
import { classifyFailure } from './failure.ts'
import type { Native } from './native.ts'
import { NetlinkError, NetlinkSocket } from './netlink.ts'

/** The conntrack port. */
export interface Conntrack {
  /**
   * Deletes UDP entries whose original destination port is one of `ports`, for the family. Resolves with the
   * ports whose deletion failed for a reason other than "nothing to delete" (callers log them: not fatal).
   */
  flushUdpPorts(family: 4 | 6, ports: readonly number[]): Promise<{ port: number; error: string }[]>
}

/**
 * The real conntrack port: ctnetlink when `native` gives the addon (one dump and one delete per matching entry,
 * no process), conntrack(8) through the command runner otherwise or when the socket cannot be opened.
 */
export function createConntrack(exec: Exec, native?: () => Native | undefined, timing: RunTiming = {}): Conntrack {
  const tools = toolConntrack(exec)
  const now = timing.now ?? Date.now
  return {
    async flushUdpPorts(family, ports) {
      if (ports.length === 0 || trackedHere() === 0) return []
      const addon = native?.()
      if (!addon) return tools.flushUdpPorts(family, ports)
      let sock: NetlinkSocket
      try {
        sock = new NetlinkSocket(addon.netlinkSocket(null, NETLINK_NETFILTER))
      } catch {
        return tools.flushUdpPorts(family, ports)
      }
      const started = now()
      try {
        return flushOverNetlink(sock, family, ports)
      } finally {
        sock.close()
        timing.onRun?.('netlink', [`conntrack -D -p udp -f ipv${family} --orig-port-dst ${ports.join(',')}`], now() - started)
      }
    },
  }
}

// How many connections this network namespace tracks (nf_conntrack_count is per namespace); 0 also when conntrack
// is not loaded at all. With none there is nothing to flush, and the dump, which walks the whole hash table (8.7 ms
// for 262144 buckets with no entry, measured), and conntrack(8) are skipped. Undefined when the count cannot be read.
function trackedHere(): number | undefined {
  try {
    return Number.parseInt(readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'), 10)
  } catch (err) {
    return (err as { code?: string }).code === 'ENOENT' ? 0 : undefined
  }
}

function flushOverNetlink(sock: NetlinkSocket, family: 4 | 6, ports: readonly number[]): { port: number; error: string }[] {
  const failures: { port: number; error: string }[] = []
  let dump
  try {
    dump = sock.request(conntrackDumpRequest(family), `conntrack -L -f ipv${family}`)
  } catch (err) {
    // No conntrack table for the family (module not loaded, nothing ever tracked): nothing to delete.
    if (err instanceof NetlinkError && (err.reason === 'not-found' || err.errno === 'EOPNOTSUPP' || err.errno === 'EAFNOSUPPORT')) return []
    return ports.map((port) => ({ port, error: (err as Error).message }))
  }
  for (const { port, request } of udpDeleteRequests(dump, family, new Set(ports))) {
    try {
      sock.request(request, `conntrack -D -p udp --orig-port-dst ${port} -f ipv${family}`)
    } catch (err) {
      // Gone between the dump and the delete (it timed out, or another flush took it): that is the wanted state.
      if (!(err instanceof NetlinkError && err.reason === 'not-found')) failures.push({ port, error: (err as Error).message })
    }
  }
  return failures
}

function toolConntrack(exec: Exec): Conntrack {
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
