// Test builds only (dist-test/, built with TSCNI_TEST_HOOKS true): a pause at a named step of a verb, so a crash
// test can SIGKILL the plugin exactly there. Every call site sits behind `if (TEST_HOOKS)`, which esbuild folds
// to `if (false)` in dist/, so neither the calls nor this module are in the shipped executable.

/** Replaced by a define: false for dist/ (build.mjs) and the unit tests (vitest.config.ts), true for dist-test/. */
declare const __TSCNI_TEST_HOOKS__: boolean
export const TEST_HOOKS: boolean = __TSCNI_TEST_HOOKS__

/** Pauses at a named step. */
export type Pause = (step: string) => Promise<void>

/**
 * With TSCNI_TEST_PAUSE_AT=<step>, reaching that step writes this process's id to TSCNI_TEST_PAUSE_FILE (the
 * test's signal that the process is there, and whom to kill), then waits a minute for the SIGKILL. Undefined
 * outside test builds: the define is tested here, not through TEST_HOOKS, so esbuild drops the body from dist/.
 */
export function envPause(env: Readonly<Record<string, string | undefined>>, touch: (path: string) => void): Pause | undefined {
  if (!__TSCNI_TEST_HOOKS__) return undefined
  const at = env.TSCNI_TEST_PAUSE_AT
  const file = env.TSCNI_TEST_PAUSE_FILE
  return async (step) => {
    if (!at || step !== at) return
    if (file) touch(file)
    await new Promise((resolve) => setTimeout(resolve, 60_000))
  }
}
