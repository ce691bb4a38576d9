// Times the named steps of one verb, so the invocation log can say where an ADD spent its time.
import type { Tracer } from './role.ts'

/** One finished step. */
export interface StepTiming {
  readonly name: string
  readonly ms: number
  readonly ok: boolean
}

/** A tracer that keeps every step's duration, in the order the steps finished. */
export function createTracer(): Tracer & { readonly steps: StepTiming[] } {
  const steps: StepTiming[] = []
  return {
    steps,
    async step(name, fn) {
      const started = performance.now()
      try {
        const value = await fn()
        steps.push({ name, ms: round(performance.now() - started), ok: true })
        return value
      } catch (err) {
        steps.push({ name, ms: round(performance.now() - started), ok: false })
        throw err
      }
    },
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
