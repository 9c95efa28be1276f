import { defineConfig } from 'vitest/config';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Fault-injection suites: long, so not part of `npm test` (which runs a short run of each).
// `npm run test:faults` runs them against the real stack: first the faults of the one-broker stack
// every suite shares (brought up by the same global setup), then those of a replicated stack of
// three brokers and two Connect workers, on ports and a state directory of its own, which its spec
// brings up and down itself (CLUSTER_ENV below). One at a time: each loads the whole machine.
/**
 * The replicated stack the cluster faults run on (test/faults/cluster/): three Kafka nodes and two
 * Kafka Connect workers — what `stack up --brokers 3 --connect-workers 2` starts — with a state
 * directory and ports of its own, so it never meets the stack the other suites share.
 */
const CLUSTER_ENV: Record<string, string> = {
  SAGALINE_STATE_DIR: join(tmpdir(), 'sagaline-cluster-faults'),
  SAGALINE_BROKERS: '3',
  SAGALINE_CONNECT_WORKERS: '2',
  SAGALINE_PG_PORT: '26432',
  SAGALINE_KAFKA_PORT: '26092',
  SAGALINE_KAFKA_CONTROLLER_PORT: '26093',
  SAGALINE_CONNECT_PORT: '26083',
  SAGALINE_REGISTRY_PORT: '26081',
  SAGALINE_REGISTRY_MANAGEMENT_PORT: '26091',
  SAGALINE_API_PORT: '26080',
  SAGALINE_METRICS_PORT_BASE: '26100',
  SAGALINE_KAFKA_HEAP_MB: '384',
  SAGALINE_CONNECT_HEAP_MB: '512',
};

const common = { testTimeout: 900_000, hookTimeout: 600_000, fileParallelism: false };

export default defineConfig({
  test: {
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          ...common,
          name: 'faults',
          include: ['test/faults/*.faults.spec.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'cluster',
          include: ['test/faults/cluster/*.faults.spec.ts'],
          env: CLUSTER_ENV,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
