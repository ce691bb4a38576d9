// Prints each demo step with its duration; a failing step says which step and why.
const useColor = process.stdout.isTTY
const paint = (code: string, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text)

/** Thrown by `step` so the caller can clean up and exit non-zero after the message was printed. */
export class StepFailed extends Error {}

/** Runs one named step, printing "==> name" before and "ok (N ms)" or the failure after. */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  process.stdout.write(`${paint('1;34', '==>')} ${name}\n`)
  const started = performance.now()
  try {
    const value = await fn()
    process.stdout.write(`    ${paint('32', 'ok')} (${Math.round(performance.now() - started)} ms)\n`)
    return value
  } catch (err) {
    process.stdout.write(`    ${paint('31', 'FAILED')} in step "${name}": ${err instanceof Error ? err.message : String(err)}\n`)
    throw new StepFailed(name, { cause: err })
  }
}

/** An indented detail line under the current step. */
export function detail(text: string): void {
  for (const line of text.split('\n')) process.stdout.write(`    ${line}\n`)
}
