import { defineConfig } from 'vitest/config';
import { LONG_SUITES } from './vitest.long.config.ts';

// Unit specs (`*.unit.spec.ts`) sit beside the code and need nothing running.
// Integration and end-to-end specs (`*.int.spec.ts`, `*.e2e.spec.ts`) run against the real stack,
// which the global setup brings up (and stops again afterwards if it started it).
// The long operational suites (LONG_SUITES in vitest.long.config.ts) are left to `npm run test:long`.
export default defineConfig({
  test: {
    // Two cores and one shared stack: files run one after another, so timings stay sane.
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.unit.spec.ts'],
          exclude: ['node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.spec.ts', '**/*.e2e.spec.ts'],
          exclude: ['node_modules/**', ...LONG_SUITES],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
