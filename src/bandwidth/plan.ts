// bandwidth's plans (pure): the ifb's name, the token buckets, and the tc changes for each direction.
import type { IpOp, TcOp, TokenBucket } from '../system/index.ts'
import { sha512Hex } from '../plugin/ids.ts'
import type { BandwidthLimits } from './config.ts'

/**
 * The ifb a container's egress is shaped on: "bwp" + sha512(network + containerID) in hex, 15 characters (the
 * reference's getIfbDeviceName, plugins/meta/bandwidth/main.go), so either implementation's DEL removes the other's.
 */
export function ifbName(network: string, containerId: string): string {
  return `bwp${sha512Hex(network + containerId)}`.slice(0, 15)
}

// The reference's fixed queue: 25 ms of traffic at the rate on top of the burst (ifb_creator.go latencyInMillis).
const LATENCY_S = 0.025
// tbf keeps its bucket as a 32-bit count of 64 ns scheduler ticks (PSCHED_SHIFT 6), so a bucket holds at most
// 2^32 × 64 ns ≈ 274.9 s of traffic at the rate; beyond that the kernel's value wraps round (tc and the reference
// pass it on unchecked). containerd asks for a burst of 2^32-1 bits (512 MiB) whatever the rate
// (internal/cri/server/sandbox_run.go toCNIBandWidth): the burst is clamped here so the bucket is what was asked
// or the most the kernel can hold, never a wrapped remainder.
const MAX_BUCKET_S = (2 ** 32 - 4096) * 64e-9 // a little under the limit: tc rounds through microseconds
const MAX_UINT32 = 0xffffffff

/** A rate (bits/s) and burst (bits) as the kernel keeps them: bytes, the burst clamped to what a bucket holds. */
export function tokenBucket(rateBits: number, burstBits: number): TokenBucket {
  const rateBytes = Math.floor(rateBits / 8)
  const burstBytes = Math.min(Math.floor(burstBits / 8), Math.floor(rateBytes * MAX_BUCKET_S))
  const limitBytes = Math.min(Math.floor(rateBytes * LATENCY_S) + burstBytes, MAX_UINT32)
  return { rateBytes, burstBytes, limitBytes }
}

/** What ADD sets up, given the host end of the container's veth and the limits. */
export interface BandwidthPlan {
  /** Traffic into the container: a tbf on the host veth (what leaves it goes into the container). */
  readonly ingress?: TokenBucket
  /** Traffic out of the container: redirected from the host veth's ingress to the ifb, shaped there. */
  readonly egress?: TokenBucket
  readonly hostVeth: string
  readonly ifb?: string
}

/** The plan for these limits. */
export function planBandwidth(l: BandwidthLimits, hostVeth: string, ifb: string): BandwidthPlan {
  const ingress = l.ingressRate > 0 && l.ingressBurst > 0 ? tokenBucket(l.ingressRate, l.ingressBurst) : undefined
  const egress = l.egressRate > 0 && l.egressBurst > 0 ? tokenBucket(l.egressRate, l.egressBurst) : undefined
  return { hostVeth, ...(ingress ? { ingress } : {}), ...(egress ? { egress, ifb } : {}) }
}

/** The ifb, created up with the host veth's MTU (as the reference's CreateIfb). */
export function ifbOps(plan: BandwidthPlan, mtu: number): IpOp[] {
  return plan.ifb ? [{ op: 'ifb-add', name: plan.ifb, mtu }, { op: 'link-set', name: plan.ifb, up: true }] : []
}

/** The qdiscs and the redirect, in one tc batch. */
export function tcOps(plan: BandwidthPlan): TcOp[] {
  return [
    ...(plan.ingress ? [{ op: 'tbf-add' as const, dev: plan.hostVeth, ...plan.ingress }] : []),
    ...(plan.egress && plan.ifb
      ? [
        { op: 'ingress-add' as const, dev: plan.hostVeth },
        { op: 'redirect-add' as const, dev: plan.hostVeth, to: plan.ifb },
        { op: 'tbf-add' as const, dev: plan.ifb, ...plan.egress },
      ]
      : []),
  ]
}

/** Undoes a partial ADD on the host veth (the ifb goes with a link delete). */
export function rollbackOps(plan: BandwidthPlan): TcOp[] {
  return [
    ...(plan.ingress ? [{ op: 'qdisc-del' as const, dev: plan.hostVeth, parent: 'root' as const }] : []),
    ...(plan.egress ? [{ op: 'qdisc-del' as const, dev: plan.hostVeth, parent: 'ingress' as const }] : []),
  ]
}

/** CHECK: a root tbf with the bucket's rate and burst (the kernel rounds the burst through ticks: ±0.1 %). */
export function bucketProblem(dev: string, want: TokenBucket, qdiscs: ReadonlyArray<{ kind: string; root: boolean; rate?: number; burst?: number }>): string | undefined {
  const root = qdiscs.find((q) => q.root)
  if (!root || root.kind !== 'tbf') return `no tbf root qdisc on ${dev}${root ? ` (found ${root.kind})` : ''}`
  if (root.rate !== want.rateBytes) return `rate on ${dev} is ${root.rate ?? 'unknown'} bytes/s, configured ${want.rateBytes}`
  const burst = root.burst ?? -1
  if (Math.abs(burst - want.burstBytes) > Math.max(2, want.burstBytes * 0.001)) return `burst on ${dev} is ${burst} bytes, configured ${want.burstBytes}`
  return undefined
}
