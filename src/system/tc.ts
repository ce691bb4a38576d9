// tc (iproute2's traffic control): pure builders for `tc -batch` lines (exported for tests) and the calls that run
// them, one process per batch in this namespace, plus `tc -j qdisc show` reads. Found through the same PATH as ip.
import * as z from 'zod/mini'
import { decodeWith, lazily, parseJson } from '../decode/go-json.ts'
import type { Exec } from './exec.ts'
import { SystemError } from './errors.ts'

/** A token bucket: rate in bytes per second, burst and queue limit in bytes (the units the kernel keeps). */
export interface TokenBucket {
  readonly rateBytes: number
  readonly burstBytes: number
  readonly limitBytes: number
}

/** One change in a `tc -batch`: a plain value, so roles plan without importing system code. */
export type TcOp =
  /** `qdisc add dev D root handle 1: tbf ...`: shapes what leaves D. */
  | ({ readonly op: 'tbf-add'; readonly dev: string } & TokenBucket)
  /** `qdisc add dev D handle ffff: ingress`: where what arrives on D can be filtered. */
  | { readonly op: 'ingress-add'; readonly dev: string }
  /** A u32 match-all filter on D's ingress that redirects every packet to egress of `to` (an ifb). */
  | { readonly op: 'redirect-add'; readonly dev: string; readonly to: string }
  /** Deletes D's root or ingress qdisc (and what hangs below it). */
  | { readonly op: 'qdisc-del'; readonly dev: string; readonly parent: 'root' | 'ingress' }

/** The batch line of one op. Device names were validated by the caller (no spaces, no quotes). */
export function renderTcOp(o: TcOp): string {
  switch (o.op) {
    case 'tbf-add':
      return `qdisc add dev ${o.dev} root handle 1: tbf rate ${o.rateBytes}bps burst ${o.burstBytes} limit ${o.limitBytes}`
    case 'ingress-add':
      return `qdisc add dev ${o.dev} handle ffff: ingress`
    case 'redirect-add':
      // classid 1:1 and prio 1 as the reference's netlink.U32 filter (plugins/meta/bandwidth/ifb_creator.go).
      return `filter add dev ${o.dev} parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev ${o.to}`
    case 'qdisc-del':
      return o.parent === 'root' ? `qdisc del dev ${o.dev} root` : `qdisc del dev ${o.dev} handle ffff: ingress`
    default: {
      const never: never = o
      throw new Error(`unknown tc op ${JSON.stringify(never)}`)
    }
  }
}

/** One qdisc as `tc -j qdisc show` reports it (the fields tscni uses). */
export interface TcQdisc {
  readonly kind: string
  readonly handle: string
  readonly root: boolean
  /** tbf: rate in bytes per second and burst in bytes, as the kernel rounded them. */
  readonly rate?: number
  readonly burst?: number
}

const schemas = lazily(() => z.object({
  kind: z.string('lacks kind'),
  handle: z.optional(z.string()),
  root: z.optional(z.boolean()),
  options: z.optional(z.object({ rate: z.optional(z.number()), burst: z.optional(z.number()) })),
}))

/** Parses `tc -j qdisc show` output. */
export function parseQdiscs(text: string): TcQdisc[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  const bad = (why: string) => new SystemError({ cmd: 'tc', args: ['-j', 'qdisc', 'show'], message: `unexpected tc -j output: ${why}` })
  let doc: unknown
  try {
    doc = parseJson(trimmed)
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(doc)) throw bad('not a list')
  return doc.map((item, i) => {
    const d = decodeWith(schemas(), item)
    if (!d.ok) throw bad(`entry ${i}: ${d.issue.message}`)
    const q = d.data
    return {
      kind: q.kind, handle: q.handle ?? '', root: q.root === true,
      ...(q.options?.rate !== undefined ? { rate: q.options.rate } : {}),
      ...(q.options?.burst !== undefined ? { burst: q.options.burst } : {}),
    }
  })
}

/** The tc port. */
export interface Tc {
  /**
   * Runs the ops with one `tc -batch -` in this namespace; stops at the first failing op unless `force` (then every
   * line runs and the call fails at the end if one did: deletes of what may be gone already).
   */
  batch(ops: readonly TcOp[], options?: { force?: boolean }): Promise<void>
  /** `tc -j qdisc show dev <dev>`; empty when the device does not exist. */
  qdiscs(dev: string): Promise<TcQdisc[]>
}

/** The real tc calls. */
export function createTc(exec: Exec): Tc {
  return {
    async batch(ops, options = {}) {
      if (ops.length === 0) return
      await exec.run('tc', [...(options.force ? ['-force'] : []), '-batch', '-'], { input: `${ops.map(renderTcOp).join('\n')}\n` })
    },
    async qdiscs(dev) {
      const args = ['-j', 'qdisc', 'show', 'dev', dev]
      const res = await exec.run('tc', args, { allowFailure: true })
      if (res.exitCode === 0) return parseQdiscs(res.stdout)
      const err = new SystemError({ cmd: 'tc', args, exitCode: res.exitCode, stderr: res.stderr })
      if (err.reason === 'no-device' || err.reason === 'not-found') return []
      throw err
    },
  }
}
