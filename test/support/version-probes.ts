// How runtimes read a plugin's version from its no-argument output, re-implemented to test tscni's banners.

// hashicorp/go-version's SemverRegexpRaw, anchored as NewSemver anchors it (Nomad uses it).
const GO_VERSION_SEMVER = /^v?([0-9]+(\.[0-9]+)*?)(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?$/

/** Nomad's CNI fingerprint (client/fingerprint/plugins_cni.go): the first whitespace token that parses as a semver. */
export function nomadVersion(output: string): string | undefined {
  return output.split(/\s+/).find((t) => t !== '' && GO_VERSION_SEMVER.test(t))?.replace(/^v/, '')
}

// Masterminds/semver's NewVersion pattern (nerdctl uses it).
const MASTERMINDS = /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/

/**
 * nerdctl's guessFirewallPluginVersion (pkg/netutil/netutil_unix.go): the first stderr line starting with
 * "CNI firewall plugin ", the rest of it parsed as a semver.
 */
export function nerdctlFirewallVersion(stderr: string): string | undefined {
  const prefix = 'CNI firewall plugin '
  for (const line of stderr.split('\n')) {
    if (!line.startsWith(prefix)) continue
    const rest = line.slice(prefix.length)
    return MASTERMINDS.test(rest) ? rest.replace(/^v/, '') : undefined
  }
  return undefined
}

/** a >= b for "X.Y.Z" versions. */
export function atLeast(a: string, b: string): boolean {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0)
  return true
}
