// Times the named steps of one verb, so the invocation log can say where an ADD spent its time.
import type { Tracer } from './role.ts'

/** One finished step. */
export interface StepTiming {
  readonly name: string
  readonly ms: number
  readonly ok: boolean
}

/**
 * A tracer that keeps every step's duration, in the order the steps finished. `now` is a monotonic clock in ms
 * (main passes process.hrtime; not performance.now, whose first use loads node:perf_hooks, ~1 ms of start-up).
 */
export function createTracer(now: () => number = Date.now): Tracer & { readonly steps: StepTiming[] } {
  const steps: StepTiming[] = []
  return {
    steps,
    async step(name, fn) {
      const started = now()
      try {
        const value = await fn()
        steps.push({ name, ms: round(now() - started), ok: true })
        return value
      } catch (err) {
        steps.push({ name, ms: round(now() - started), ok: false })
        throw err
      }
    },
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
