// The version banner a role prints when run with no CNI_COMMAND: the reference plugins' wording, which runtimes parse.

/**
 * The plugin version every role reports: the containernetworking/plugins release whose behaviour tscni's roles
 * follow. Runtimes gate on it: nerdctl reads `CNI firewall plugin vX.Y.Z` from stderr and enables `ingressPolicy`
 * `isolated` only from v1.7.1 (`pkg/netutil/netutil_unix.go` FirewallPluginGEQVersion); Nomad takes the first
 * whitespace token that parses as a semver and wants at least 0.4.0 (`client/fingerprint/plugins_cni.go`).
 */
export const PLUGIN_VERSION = '1.9.1'

/**
 * The two lines the reference skel prints on stderr with no CNI_COMMAND (`pkg/skel/skel.go` pluginMain, the about
 * string from `pkg/utils/buildversion` BuildString): `CNI <name> plugin v<version>`, then the spec versions.
 */
export function versionBanner(name: string, versions: readonly string[]): string {
  return `CNI ${name} plugin v${PLUGIN_VERSION}\nCNI protocol versions supported: ${versions.join(', ')}\n`
}
