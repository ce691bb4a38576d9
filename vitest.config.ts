// Two projects: unit (pure, no root, fast) and integration (real kernel, the built executable, root).
import { defineConfig } from 'vitest/config'

// Nothing from the developer's shell may leak into a test: CNI_* variables would change plugin behaviour.
// The switches below stay: TSCNI_STRESS_FULL and TSCNI_PROPERTY_SEED belong to the tests themselves (full-size stress
// runs, a seed to replay a property-based failure); TSCNI_NETLINK=0 runs the plugins over the tools instead of
// netlink (test/support/run-plugin.ts and cni-runtime.ts pass it on), and TSCNI_EXPECT_KERNEL_PATH lets the tool leg
// of scripts/test.sh check that it did (test/integration/kernel-path.test.ts).
const TEST_SWITCHES = ['TSCNI_STRESS_FULL', 'TSCNI_PROPERTY_SEED', 'TSCNI_NETLINK', 'TSCNI_EXPECT_KERNEL_PATH']
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
