// Every role of the built executable, run as nerdctl and Nomad probe plugins (no arguments, no CNI_COMMAND): the
// reference's banner on stderr under the standard and the tscni- name, a version Nomad accepts, and for firewall one
// that makes nerdctl enable `isolated`.
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { PLUGIN_VERSION } from '../../src/plugin/banner.ts'
import { ROLE_NAMES } from '../../src/plugin/role.ts'
import { binDir } from '../support/run-plugin.ts'
import { atLeast, nerdctlFirewallVersion, nomadVersion } from '../support/version-probes.ts'

describe.each([...ROLE_NAMES])('%s run with no arguments', (role) => {
  it.each([role, `tscni-${role}`])('as %s prints the banner on stderr, and Nomad reads a version >= 0.4.0', async (name) => {
    const res = await execa(`${binDir()}/${name}`, [], { env: {}, extendEnv: false, reject: false })
    expect(res.exitCode).toBe(0)
    expect(res.stdout).toBe('')
    expect(res.stderr.split('\n')[0]).toBe(`CNI ${role} plugin v${PLUGIN_VERSION}`)
    const version = nomadVersion(`${res.stdout}\n${res.stderr}`)
    expect(version).toBe(PLUGIN_VERSION)
    expect(atLeast(version!, '0.4.0')).toBe(true)
    if (role === ('firewall' as string)) expect(atLeast(nerdctlFirewallVersion(res.stderr) ?? '0', '1.7.1')).toBe(true)
  })

  it('as tscni <role> (busybox style) prints the same banner', async () => {
    const res = await execa(`${binDir()}/tscni`, [role], { env: {}, extendEnv: false, reject: false })
    expect(res.stderr.split('\n')[0]).toBe(`CNI ${role} plugin v${PLUGIN_VERSION}`)
  })
})
