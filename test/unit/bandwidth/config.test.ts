import { describe, expect, it } from 'vitest'
import { isUnlimited, parseBandwidthConfig } from '../../../src/bandwidth/config.ts'
import { ifbName, planBandwidth, tcOps, tokenBucket } from '../../../src/bandwidth/plan.ts'
import { renderTcOp } from '../../../src/system/tc.ts'

describe('parseBandwidthConfig', () => {
  it('takes the top level when any of its keys is there, runtimeConfig.bandwidth otherwise', () => {
    const runtime = { runtimeConfig: { bandwidth: { ingressRate: 1000, ingressBurst: 800 } } }
    expect(parseBandwidthConfig(runtime).limits).toEqual({ ingressRate: 1000, ingressBurst: 800, egressRate: 0, egressBurst: 0 })
    expect(parseBandwidthConfig({ ...runtime, egressRate: 0 }).limits).toEqual({ ingressRate: 0, ingressBurst: 0, egressRate: 0, egressBurst: 0 })
    expect(isUnlimited(parseBandwidthConfig({}).limits)).toBe(true)
  })

  it.each([
    [{ ingressRate: 1000 }, 'if rate is set, burst must also be set'],
    [{ egressBurst: 1000 }, 'if burst is set, rate must also be set'],
    [{ egressRate: 1000, egressBurst: 8 * 0xffffffff }, 'burst cannot be more than 4GB'],
    [{ egressRate: 4, egressBurst: 800 }, 'invalid rate'],
    [{ ingressRate: -1, ingressBurst: 800 }, 'ingressRate must not be negative'],
  ])('refuses %j', (raw, msg) => expect(() => parseBandwidthConfig(raw)).toThrow(msg))

  it('accepts containerd\'s burst of 2^32-1 bits', () => {
    expect(parseBandwidthConfig({ runtimeConfig: { bandwidth: { ingressRate: 10_000_000, ingressBurst: 0xffffffff } } }).limits.ingressBurst).toBe(0xffffffff)
  })
})

describe('plans', () => {
  it('names the ifb as the reference: bwp + sha512(network + containerID), 15 characters', () => {
    expect(ifbName('testnet', 'container1')).toBe('bwp9a2f7cdb1bac')
    expect(ifbName('testnet', 'container1')).toBe(ifbName('testnet', 'container1'))
    expect(ifbName('testnet', 'container2')).not.toBe(ifbName('testnet', 'container1'))
  })

  it('keeps bytes as the kernel does, 25 ms of queue on top of the burst', () => {
    expect(tokenBucket(8_000_000, 80_000)).toEqual({ rateBytes: 1_000_000, burstBytes: 10_000, limitBytes: 35_000 })
  })

  it('clamps containerd\'s 512 MiB burst to what a tbf bucket holds at that rate (~274.9 s)', () => {
    const b = tokenBucket(10_000_000, 0xffffffff)
    expect(b.burstBytes).toBeLessThan(Math.floor(0xffffffff / 8))
    expect(b.burstBytes / b.rateBytes).toBeGreaterThan(274)
    expect(b.burstBytes / b.rateBytes).toBeLessThan(274.9)
    expect(tokenBucket(1_000_000_000, 0xffffffff).burstBytes).toBe(Math.floor(0xffffffff / 8))
  })

  it('shapes ingress on the host veth and egress on the ifb through a redirect', () => {
    const plan = planBandwidth({ ingressRate: 8000, ingressBurst: 800, egressRate: 16000, egressBurst: 1600 }, 'veth1', 'bwp123456789abc')
    expect(tcOps(plan).map(renderTcOp)).toEqual([
      'qdisc add dev veth1 root handle 1: tbf rate 1000bps burst 100 limit 125',
      'qdisc add dev veth1 handle ffff: ingress',
      'filter add dev veth1 parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev bwp123456789abc',
      'qdisc add dev bwp123456789abc root handle 1: tbf rate 2000bps burst 200 limit 250',
    ])
    expect(planBandwidth({ ingressRate: 8000, ingressBurst: 800, egressRate: 0, egressBurst: 0 }, 'veth1', 'bwpx').ifb).toBeUndefined()
  })
})
