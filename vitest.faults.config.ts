import { defineConfig } from 'vitest/config';

// Fault-injection suites: long, so not part of `npm test` (which runs a short run of each).
// `npm run test:faults` runs them against the real stack, brought up by the same global setup.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.faults.spec.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
