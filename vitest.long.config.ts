import { defineConfig } from 'vitest/config';
import { LONG_SUITES } from './test/long-suites.ts';

// `npm run test:long`: the operational suites too slow for every `npm test` (test/long-suites.ts),
// against the same shared stack and global setup.
export default defineConfig({
  test: {
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'long',
          include: [...LONG_SUITES],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
