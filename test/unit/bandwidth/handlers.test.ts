// bandwidth/handlers.ts through the dispatcher with a fake System: the host veth found by the peer index, the ifb
// and tc batch, the rollback when tc fails, DEL by name (a missing ifb is fine), and the pass-through.
import { describe, expect, it } from 'vitest'
import { createBandwidth } from '../../../src/bandwidth/handlers.ts'
import { ifbName } from '../../../src/bandwidth/plan.ts'
import { runPlugin, type Outcome } from '../../../src/plugin/dispatch.ts'
import { silentLogger } from '../../../src/plugin/log.ts'
import { noTrace } from '../../../src/plugin/role.ts'
import type { IpLink } from '../../../src/system/index.ts'
import { createFakeSystem, FakeError, type FakeSystem } from '../../support/fake-system.ts'

const link = (ifindex: number, ifname: string, extra: Partial<IpLink> = {}): IpLink =>
  ({ ifindex, ifname, flags: ['UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01', promiscuity: 0, addrs: [], ...extra })
const PREV = { cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/c1' }], ips: [{ address: '10.0.0.2/24', interface: 2 }] }
const LIMITS = { ingressRate: 8000, ingressBurst: 800, egressRate: 8000, egressBurst: 800 }

async function run(sys: FakeSystem, verb: string, conf: Record<string, unknown>): Promise<Outcome & { json: any }> {
  const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bandwidth', ...conf })
  const out = await runPlugin(createBandwidth(), {
    env: { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
    readStdin: async () => stdin,
    sys,
    makeContext: (env, netConf, raw) => ({ env, conf: netConf, stdin: raw, sys, ipam: undefined as never, log: silentLogger, trace: noTrace }),
  })
  return { ...out, json: out.stdout ? JSON.parse(out.stdout) : undefined }
}

function shaped(): FakeSystem {
  return createFakeSystem()
    .on('ip.inspect', () => ({ links: [link(2, 'eth0', { linkIndex: 7 })], sysctls: [] }))
    .on('ip.links', () => [link(5, 'cni0'), link(7, 'veth1', { mtu: 1400 })])
    .on('ip.batchThenShow', (_ops, dev: string) => [link(9, dev, { address: '0a:00:00:00:00:09' })])
}

describe('bandwidth ADD', () => {
  it('shapes the peer of the container interface and adds the ifb to the result', async () => {
    const sys = shaped()
    const out = await run(sys, 'ADD', { ...LIMITS, prevResult: PREV })
    expect(out.exitCode, out.stdout).toBe(0)
    const ifb = ifbName('net', 'c1')
    expect(sys.callsOf('ip.batchThenShow')[0]!.args[0]).toEqual([{ op: 'ifb-add', name: ifb, mtu: 1400 }, { op: 'link-set', name: ifb, up: true }])
    expect((sys.callsOf('tc.batch')[0]!.args[0] as Array<{ op: string; dev: string }>).map((o) => `${o.op} ${o.dev}`)).toEqual(['tbf-add veth1', 'ingress-add veth1', 'redirect-add veth1', `tbf-add ${ifb}`])
    expect(out.json.interfaces.at(-1)).toEqual({ name: ifb, mac: '0a:00:00:00:00:09' })
  })

  it('removes what it made when tc fails, and says which device', async () => {
    const sys = shaped().on('tc.batch', (_ops, options?: { force?: boolean }) => {
      if (!options?.force) throw new FakeError('RTNETLINK answers: Invalid argument')
    })
    const out = await run(sys, 'ADD', { ...LIMITS, prevResult: PREV })
    expect(out.exitCode).toBe(1)
    expect(out.json.msg).toContain('veth1')
    expect(sys.callsOf('tc.batch')[1]!.args).toEqual([[{ op: 'qdisc-del', dev: 'veth1', parent: 'root' }, { op: 'qdisc-del', dev: 'veth1', parent: 'ingress' }], { force: true }])
    expect(sys.callsOf('ip.batch').map((c) => c.args[0])).toEqual([[{ op: 'link-del', name: ifbName('net', 'c1') }]])
  })

  it('refuses a peer that prevResult does not list as a host interface', async () => {
    const sys = shaped().on('ip.links', () => [link(7, 'vethOther')])
    const out = await run(sys, 'ADD', { ...LIMITS, prevResult: PREV })
    expect(out.json.msg).toBe('no veth peer of container interface found in host ns')
    expect(sys.callsOf('tc.batch')).toEqual([])
  })

  it('with no limits prints prevResult and touches nothing', async () => {
    const sys = createFakeSystem()
    const out = await run(sys, 'ADD', { prevResult: PREV })
    expect(out.json).toEqual(PREV)
    // Only the dispatcher's own-namespace guard (two stat calls) ran.
    expect(sys.calls.map((c) => c.method).filter((m) => m !== 'netns.isOwn')).toEqual([])
  })
})

describe('bandwidth DEL', () => {
  it('deletes the ifb by name; a missing one is success', async () => {
    const sys = createFakeSystem().on('ip.batch', () => {
      throw new FakeError('Cannot find device', { exists: false, noDevice: true })
    })
    const out = await run(sys, 'DEL', {})
    expect(out.exitCode).toBe(0)
    expect(sys.callsOf('ip.batch')[0]!.args[0]).toEqual([{ op: 'link-del', name: ifbName('net', 'c1') }])
  })
})
