import { describe, expect, it } from 'vitest'
import { PLUGIN_VERSION, versionBanner } from '../../../src/plugin/banner.ts'
import { runPlugin, type PluginIo } from '../../../src/plugin/dispatch.ts'
import { noTrace, ROLE_NAMES, type RoleHandlers } from '../../../src/plugin/role.ts'
import { SUPPORTED_VERSIONS } from '../../../src/plugin/version.ts'
import { atLeast, nerdctlFirewallVersion, nomadVersion } from '../../support/version-probes.ts'

describe('versionBanner', () => {
  it('reads as the reference skel prints it', () => {
    expect(versionBanner('bridge', ['0.4.0', '1.0.0'])).toBe(`CNI bridge plugin v${PLUGIN_VERSION}\nCNI protocol versions supported: 0.4.0, 1.0.0\n`)
  })

  it.each([...ROLE_NAMES, 'firewall'])('%s: Nomad reads a version of at least 0.4.0', (role) => {
    const version = nomadVersion(versionBanner(role, SUPPORTED_VERSIONS))
    expect(version).toBe(PLUGIN_VERSION)
    expect(atLeast(version!, '0.4.0')).toBe(true)
  })

  it('firewall: nerdctl reads a version that enables same-bridge (1.1.0) and isolated (1.7.1)', () => {
    const version = nerdctlFirewallVersion(versionBanner('firewall', SUPPORTED_VERSIONS))
    expect(version).toBe(PLUGIN_VERSION)
    expect(atLeast(version!, '1.7.1')).toBe(true)
  })

  it('the probes are not fooled by the old output (Nomad read the spec version by luck, nerdctl nothing)', () => {
    const old = `tscni bridge\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`
    expect(nomadVersion(old)).toBe('1.1.0')
    expect(nomadVersion(`${old.trimEnd()}.\n`)).toBeUndefined()
    expect(nerdctlFirewallVersion('tscni firewall\n')).toBeUndefined()
  })
})

describe('runPlugin without CNI_COMMAND', () => {
  const role = { about: 'tscni bandwidth: about text', versions: ['0.3.0', '1.1.0'] } as unknown as RoleHandlers
  const io = (env: Record<string, string>): PluginIo => ({ env, role: 'bandwidth', sys: undefined as never, readStdin: async () => '', makeContext: () => ({ trace: noTrace }) as never })

  it('prints the banner first on stderr, the role\'s versions, then the about text, and exits 0', async () => {
    const out = await runPlugin(role, io({}))
    expect(out).toEqual({ stdout: '', stderr: `CNI bandwidth plugin v${PLUGIN_VERSION}\nCNI protocol versions supported: 0.3.0, 1.1.0\ntscni bandwidth: about text\n`, exitCode: 0 })
  })

  it('VERSION lists the role\'s versions, and a config of another version is refused with code 1', async () => {
    expect(JSON.parse((await runPlugin(role, io({ CNI_COMMAND: 'VERSION' }))).stdout).supportedVersions).toEqual(['0.3.0', '1.1.0'])
    const refused = await runPlugin(role, { ...io({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }), readStdin: async () => '{"cniVersion":"0.2.0","name":"n","type":"bandwidth"}' })
    expect(JSON.parse(refused.stdout)).toMatchObject({ code: 1, msg: 'incompatible CNI versions' })
  })
})
