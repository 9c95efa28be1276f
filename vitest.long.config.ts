import { defineConfig } from 'vitest/config';

/**
 * End-to-end suites that each take minutes — a stack or cluster of their own, Connect stopped and
 * slots lost, the packed package installed and walked through, many sagas killed mid-run — run by
 * `npm run test:long` (this config) rather than every `npm test` (vitest.config.ts leaves them out). `npm test` keeps a short smoke of what they
 * cover: test/replication-slot.e2e.spec.ts (Connect stopped and back), test/scale-out.e2e.spec.ts
 * (processes SIGKILLed mid-run), test/faults/stack-fault-smoke.e2e.spec.ts (outages),
 * test/stack-preflight.int.spec.ts (bad stack settings), test/npm-start.e2e.spec.ts (the demo). The
 * three-broker cluster (test/three-brokers.e2e.spec.ts, under a minute) is part of `npm test` itself.
 */
export const LONG_SUITES = [
  'test/demo.e2e.spec.ts', // npm start on a stack of its own, from nothing
  'test/package.int.spec.ts', // the packed package installed in an empty folder, the README walked through
  'test/saga-crash.e2e.spec.ts', // 20 + 5 + HTTP sagas with every process SIGKILLed
  'test/delivery-stall.e2e.spec.ts', // a slot held by another connection
  'test/lost-slot.e2e.spec.ts', // every slot lost while Connect is down
  'test/stack-lifecycle.e2e.spec.ts', // a second stack up, killed, recovered, down
  'test/byos.e2e.spec.ts', // bring your own stack
  'test/outbox-cleanup.e2e.spec.ts', // cleanup with Connect stopped
] as const;

// `npm run test:long`: the operational suites too slow for every `npm test` (LONG_SUITES above),
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
