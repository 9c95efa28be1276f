import { defineConfig } from 'vitest/config';

// Unit specs (`*.unit.spec.ts`) sit beside the code and need nothing running.
// Integration and end-to-end specs (`*.int.spec.ts`, `*.e2e.spec.ts`) run against the real stack,
// which the global setup brings up (and stops again afterwards if it started it).
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
          exclude: ['node_modules/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
