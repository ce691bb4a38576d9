// The firewall role on both backends: the reference's rules (iptables) or tscni's table (nftables) for each address,
// traffic through a FORWARD chain whose policy drops, CHECK finding a removed rule, DEL without prevResult (from the
// record), ingressPolicy rules that stay while the bridge has attachments and go with its last, GC, STATUS, and bad
// input refused with nothing left.
import { existsSync, readdirSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runOk, runPlugin, type PluginReply } from '../support/run-plugin.ts'
import { filterRules, forwardState, outsideNamespace, reaches, runtimeBinDir } from '../support/firewall-role.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
let bin: string
beforeEach(() => {
  const b = runtimeBinDir()
  node.defer(b.cleanup)
  bin = b.dir
})
afterEach(() => undefined)

/** A prevResult as bridge prints it: the bridge, the host veth, the container interface, one address per family. */
function prevResult(bridge: string, v4: string, v6?: string) {
  return {
    cniVersion: '1.0.0',
    interfaces: [{ name: bridge, mac: '02:00:00:00:00:01' }, { name: 'veth1234', mac: '02:00:00:00:00:02' }, { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/run/netns/x' }],
    ips: [{ address: `${v4}/24`, gateway: v4.replace(/\.\d+$/, '.1'), interface: 2 }, ...(v6 ? [{ address: `${v6}/64`, interface: 2 }] : [])],
  }
}

function conf(extra: Record<string, unknown>, prev?: unknown) {
  return { cniVersion: '1.0.0', name: 'fwnet', type: 'firewall', ...extra, ...(prev === undefined ? {} : { prevResult: prev }) }
}

function call(verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', config: unknown, containerId = 'ctr-a', host: TestNetns = node.host) {
  return { role: 'firewall', verb, config, host, binDir: bin, containerId, netns: '/run/netns/x', ifname: 'eth0', env: { TSCNI_STATE_DIR: node.stateDir } } as const
}

const said = (r: PluginReply) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`
const records = () => (existsSync(node.stateDir) ? readdirSync(node.stateDir).filter((f) => f.startsWith('firewall-')) : [])

describe('firewall role on iptables: the reference rules', () => {
  it('ADD inserts CNI-FORWARD first in FORWARD with the admin chain first in it and two rules per address; DEL without prevResult removes them', async () => {
    const prev = prevResult('fwbr0', '10.61.0.2', 'fd61::2')
    const add = await runOk(call('ADD', conf({ backend: 'iptables' }, prev)))
    // The result is prevResult printed back in the config's version.
    expect(add.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.61.0.2/24', 'fd61::2/64'])
    expect(add.json.interfaces[0].name).toBe('fwbr0')
    const v4 = await filterRules(node.host, 4)
    expect(v4[0]).toBe('-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD')
    expect(v4).toContain('-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN')
    expect(v4).toContain('-A CNI-FORWARD -d 10.61.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')
    expect(v4).toContain('-A CNI-FORWARD -s 10.61.0.2/32 -j ACCEPT')
    expect(v4.filter((l) => l.startsWith('-A CNI-FORWARD'))[0]).toContain('-j CNI-ADMIN')
    const v6 = await filterRules(node.host, 6)
    expect(v6).toContain('-A CNI-FORWARD -s fd61::2/128 -j ACCEPT')
    expect(records()).toHaveLength(1)

    // A second ADD changes nothing (every rule once).
    await runOk(call('ADD', conf({ backend: 'iptables' }, prev)))
    expect(await filterRules(node.host, 4)).toEqual(v4)

    const check = await runPlugin(call('CHECK', conf({ backend: 'iptables' }, prev)))
    expect(check.exitCode, said(check)).toBe(0)
    await node.host.exec('iptables', ['-D', 'CNI-FORWARD', '-s', '10.61.0.2/32', '-j', 'ACCEPT'])
    const broken = await runPlugin(call('CHECK', conf({ backend: 'iptables' }, prev)))
    expect(broken.exitCode).toBe(1)
    expect(broken.json.msg).toContain('-A CNI-FORWARD -s 10.61.0.2/32 -j ACCEPT')

    // The runtime sends no prevResult (the reference then removes nothing): the record says what to remove.
    await runOk(call('DEL', conf({ backend: 'iptables' })))
    expect(await forwardState(node.host)).toEqual([])
    expect(records()).toEqual([])
    await runOk(call('DEL', conf({ backend: 'iptables' })))
  })

  it('lets a container through a FORWARD chain whose policy drops, and only while it is attached', async () => {
    const container = await node.pool.create('tscni-c')
    const outside = await outsideNamespace(node.pool, node.host, '10.62.0.1', '10.62.0.2')
    // A bare veth pair stands for bridge's work: the role only needs the container's address routed via the host.
    await node.host.exec('ip', ['link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', container.name])
    await node.host.exec('ip', ['addr', 'add', '10.61.0.1/24', 'dev', 'vh0'])
    await node.host.exec('ip', ['link', 'set', 'vh0', 'up'])
    await container.exec('ip', ['addr', 'add', '10.61.0.2/24', 'dev', 'eth0'])
    await container.exec('ip', ['link', 'set', 'eth0', 'up'])
    await container.exec('ip', ['route', 'add', 'default', 'via', '10.61.0.1'])
    await node.host.exec('iptables', ['-P', 'FORWARD', 'DROP'])
    expect(await reaches(container, '10.62.0.2')).toBe(false)

    const prev = prevResult('vh0', '10.61.0.2')
    await runOk({ ...call('ADD', conf({ backend: 'iptables' }, prev)), netns: container.path })
    expect(await reaches(container, '10.62.0.2')).toBe(true)
    await runOk({ ...call('DEL', conf({ backend: 'iptables' }, prev)), netns: container.path })
    expect(await reaches(container, '10.62.0.2')).toBe(false)
    expect(outside.name).toBeTruthy()
  })

  it('uses iptablesAdminChainName for the admin chain (Nomad: NOMAD-ADMIN)', async () => {
    const prev = prevResult('nomad', '172.26.64.2')
    await runOk(call('ADD', conf({ backend: 'iptables', iptablesAdminChainName: 'NOMAD-ADMIN' }, prev)))
    const v4 = await filterRules(node.host, 4)
    expect(v4).toContain('-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j NOMAD-ADMIN')
    await runOk(call('DEL', conf({ backend: 'iptables', iptablesAdminChainName: 'NOMAD-ADMIN' }, prev)))
    expect(await forwardState(node.host, 'NOMAD-ADMIN')).toEqual([])
  })
})

describe.each(BACKENDS)('firewall role on %s', (backend) => {
  it('ingressPolicy rules stay while the bridge has attachments and go with its last one', async () => {
    const config = (prev?: unknown) => conf({ backend, ingressPolicy: 'isolated' }, prev)
    const a = prevResult('fwbr1', '10.63.0.2')
    const b = prevResult('fwbr1', '10.63.0.3')
    await runOk(call('ADD', config(a), 'ctr-a'))
    await runOk(call('ADD', config(b), 'ctr-b'))
    const state = (await forwardState(node.host)).join('\n')
    if (backend === 'iptables') {
      expect(state).toContain('-A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j CNI-ISOLATION-STAGE-1')
      expect(state).toContain('-A CNI-ISOLATION-STAGE-1 -i fwbr1 ! -o fwbr1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j CNI-ISOLATION-STAGE-2')
      expect(state).toContain('-A CNI-ISOLATION-STAGE-1 -i fwbr1 -o fwbr1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j DROP')
      expect(state).toContain('-A CNI-ISOLATION-STAGE-2 -o fwbr1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j DROP')
      // STAGE-1's jump comes before CNI-FORWARD's, as in the reference.
      const forward = (await filterRules(node.host, 4)).filter((l) => l.startsWith('-A FORWARD'))
      expect(forward[0]).toContain('-j CNI-ISOLATION-STAGE-1')
    } else {
      expect(state).toContain('iifname "fwbr1" oifname != "fwbr1" jump isolation-stage-2')
      expect(state).toContain('iifname "fwbr1" oifname "fwbr1" drop')
      expect(state).toContain('oifname "fwbr1" drop')
      expect(state).toContain('ip daddr 10.63.0.3 ct state established,related accept')
    }
    const check = await runPlugin(call('CHECK', config(a), 'ctr-a'))
    expect(check.exitCode, said(check)).toBe(0)

    // DEL without prevResult, as a runtime may send it.
    await runOk(call('DEL', config(), 'ctr-a'))
    const after = (await forwardState(node.host)).join('\n')
    expect(after).toContain('fwbr1')
    expect(after).not.toContain('10.63.0.2')
    await runOk(call('DEL', config(), 'ctr-b'))
    expect(await forwardState(node.host)).toEqual([])
    expect(records()).toEqual([])
  })

  it('GC removes the rules of attachments that are no longer valid, and STATUS answers', async () => {
    await runOk(call('ADD', conf({ backend }, prevResult('fwbr2', '10.64.0.2')), 'keep'))
    await runOk(call('ADD', conf({ backend }, prevResult('fwbr2', '10.64.0.3')), 'gone'))
    const gc = await runPlugin(call('GC', { cniVersion: '1.1.0', name: 'fwnet', type: 'firewall', backend, 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }))
    expect(gc.exitCode, said(gc)).toBe(0)
    const state = (await forwardState(node.host)).join('\n')
    expect(state).toContain('10.64.0.2')
    expect(state).not.toContain('10.64.0.3')
    expect(records()).toHaveLength(1)
    const status = await runPlugin(call('STATUS', { cniVersion: '1.1.0', name: 'fwnet', type: 'firewall', backend }))
    expect(status.exitCode, said(status)).toBe(0)
    await runOk(call('DEL', conf({ backend }), 'keep'))
    expect(await forwardState(node.host)).toEqual([])
  })
})

describe('firewall role: a bridge\'s isolation under concurrent DEL and ADD', () => {
  it('a DEL of the last attachment racing an ADD on the same bridge leaves the new attachment isolated', async () => {
    const config = (prev?: unknown) => conf({ backend: 'iptables', ingressPolicy: 'same-bridge' }, prev)
    const stage2 = '-A CNI-ISOLATION-STAGE-2 -o fwbr9 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP'
    await runOk(call('ADD', config(prevResult('fwbr9', '10.71.0.2')), 'race-0'))
    for (let i = 1; i <= 8; i++) {
      // The previous attachment goes while the next one comes: one of them is always on the bridge.
      await Promise.all([
        runOk(call('DEL', config(), `race-${i - 1}`)),
        runOk(call('ADD', config(prevResult('fwbr9', `10.71.0.${i + 2}`)), `race-${i}`)),
      ])
      expect(await filterRules(node.host), `round ${i}`).toContain(stage2)
    }
    await runOk(call('DEL', config(), 'race-8'))
    expect(await forwardState(node.host)).toEqual([])
  })
})

describe('firewall role refuses bad input, leaving nothing', () => {
  it.each([
    ['a config version below 0.4.0', { cniVersion: '0.3.1', name: 'fwnet', type: 'firewall', prevResult: prevResult('fwbr3', '10.65.0.2') }, 1, 'incompatible CNI versions'],
    ['a firewalld backend', conf({ backend: 'firewalld' }, prevResult('fwbr3', '10.65.0.2')), 2, 'backend'],
    ['an unknown ingressPolicy', conf({ ingressPolicy: 'strict' }, prevResult('fwbr3', '10.65.0.2')), 7, 'ingressPolicy'],
    ['an admin chain name with a space', conf({ iptablesAdminChainName: 'A B' }, prevResult('fwbr3', '10.65.0.2')), 7, 'iptablesAdminChainName'],
    ['no prevResult', conf({}), 7, 'missing prevResult'],
    ['same-bridge without interfaces', conf({ ingressPolicy: 'same-bridge' }, { cniVersion: '1.0.0', ips: [{ address: '10.65.0.2/24' }] }), 7, 'chain "firewall" plugin with "bridge"'],
  ])('%s', async (_what, config, code, text) => {
    const reply = await runPlugin(call('ADD', config))
    expect(reply.exitCode, said(reply)).toBe(1)
    expect(reply.json.code).toBe(code)
    expect(`${reply.json.msg} ${reply.json.details ?? ''}`).toContain(text)
    expect(await forwardState(node.host)).toEqual([])
    expect(records()).toEqual([])
  })
})
