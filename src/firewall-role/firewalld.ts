// Whether firewalld runs here, and the error tscni gives then: the role does not drive firewalld.
//
// Why an error and not a firewalld backend: firewalld is reached over D-Bus (the reference calls
// org.fedoraproject.FirewallD1.zone.addSource), and a D-Bus client means a socket client on the plugin path, which
// tscni keeps free of node:net for start-up time; its changes are also runtime-only and lost on
// `firewall-cmd --reload` (podman grew `podman network reload` for that). Filling iptables or nftables instead on a
// firewalld host would look like success while firewalld's own table drops the traffic. So: a clear error.
import { readFileSync } from 'node:fs'
import { CniError, ErrorCode } from '../plugin/errors.ts'

// Where firewalld writes its PID (its --pidfile default; older builds under /var/run).
const PID_FILES = ['/run/firewalld/firewalld.pid', '/run/firewalld.pid', '/var/run/firewalld.pid']

/**
 * True when a live process named firewalld holds one of firewalld's PID files: the process that owns the
 * org.fedoraproject.FirewallD1 D-Bus name, found without a D-Bus round trip (the reference asks the bus).
 */
export function firewalldRunning(read: (path: string) => string | undefined = readOrUndefined): boolean {
  for (const file of PID_FILES) {
    const pid = read(file)?.trim()
    if (!pid || !/^\d+$/.test(pid)) continue
    if (read(`/proc/${pid}/comm`)?.trim() === 'firewalld') return true
  }
  return false
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The error for a firewalld backend, configured or found running with `backend` left to the automatic choice. */
export function firewalldError(configured: boolean): CniError {
  const why = configured ? 'backend "firewalld" is configured' : 'backend is automatic ("") and firewalld is running, so the reference would use it'
  return new CniError(ErrorCode.UnsupportedField, `unsupported field backend: ${why}, and tscni's firewall does not drive firewalld`, {
    details: 'tscni fills iptables or nftables only. Set "backend": "iptables" or "nftables" and put the bridge in a firewalld zone that accepts it (e.g. firewall-cmd --zone=trusted --add-interface=<bridge>), or use the reference firewall plugin.',
  })
}
