// The run's kernel path is the one TSCNI_NETLINK names: netlink by default, the tools (ip -batch, nsenter) with
// TSCNI_NETLINK=0. scripts/test.sh runs the bridge, portmap, loopback, dns and reconcile files a second time with
// TSCNI_NETLINK=0 and TSCNI_EXPECT_KERNEL_PATH=tools, so this test fails if the switch stops reaching the plugins.
import { describe, expect, it } from 'vitest'
import { bridgeConf } from '../support/bridge.ts'
import { runPlugin } from '../support/run-plugin.ts'
import { useTestNode } from '../support/test-node.ts'

const node = useTestNode()
const expected = process.env.TSCNI_NETLINK === '0' ? 'tools' : 'netlink'

describe('kernel path of this run', () => {
  it(`is what the test run asked for (${expected})`, async () => {
    // The leg that asks for a path says so (scripts/test.sh): a switch lost on the way to the workers fails here.
    if (process.env.TSCNI_EXPECT_KERNEL_PATH) expect(expected).toBe(process.env.TSCNI_EXPECT_KERNEL_PATH)
    const ctr = await node.pool.create('tscni-c')
    const config = bridgeConf('bridge-host-local.conflist', '1.0.0', node.dataDir)
    // The run's environment as every other test passes it on (run-plugin.ts), plus debug logging.
    const call = { role: 'bridge', host: node.host, binDir: node.bin, containerId: 'path-1', netns: ctr.path, ifname: 'eth0', config, env: { TSCNI_LOG_LEVEL: 'debug' } }
    const add = await runPlugin({ ...call, verb: 'ADD' })
    expect(add.exitCode).toBe(0)
    if (expected === 'tools') {
      expect(add.stderr).toMatch(/ms: ip -batch -/)
      expect(add.stderr).not.toMatch(/ms: netlink /)
    } else {
      expect(add.stderr).toMatch(/ms: netlink /)
      expect(add.stderr).not.toMatch(/ms: ip -batch -/)
    }
    expect((await runPlugin({ ...call, verb: 'DEL' })).exitCode).toBe(0)
  })
})
