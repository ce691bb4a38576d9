// Two projects: unit (pure, no root, fast) and integration (real kernel, the built executable, root).
import { defineConfig } from 'vitest/config'

// Nothing from the developer's shell may leak into a test: CNI_* variables would change plugin behaviour.
// TSCNI_STRESS_FULL and TSCNI_PROPERTY_SEED are switches of the tests themselves (full-size stress runs, a seed to
// replay a property-based failure), not of the plugin, so they stay.
const TEST_SWITCHES = ['TSCNI_STRESS_FULL', 'TSCNI_PROPERTY_SEED']
for (const key of Object.keys(process.env)) if ((key.startsWith('CNI_') || key.startsWith('TSCNI_')) && !TEST_SWITCHES.includes(key)) delete process.env[key]

export default defineConfig({
  test: {
    projects: [
      {
        // Test-only pause points of the plugin (src/plugin/test-pause.ts) are off when tests import the source.
        define: { __TSCNI_TEST_HOOKS__: 'false' },
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        define: { __TSCNI_TEST_HOOKS__: 'false' },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
})
