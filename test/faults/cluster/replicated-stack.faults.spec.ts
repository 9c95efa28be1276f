/**
 * Faults of a replicated stack: three Kafka nodes and two Kafka Connect workers (what `stack up
 * --brokers 3 --connect-workers 2` starts), on ports and a state directory of their own
 * (CLUSTER_ENV in vitest.faults.config.ts), brought up here; its state directory, with the logs,
 * is kept until the next run. While 40 trainings and 10 deployments run, one Kafka node is
 * SIGKILLed, and later the Connect worker running the most outbox connector tasks; each stays down
 * until a saga started after the kill has completed (and the others have taken its work over:
 * partition leadership, or the connectors and their slots), and only then is started again.
 * Checked and counted as the stack faults are (test/support/fault-suite.ts); the table goes to
 * bench/results/faults-<date>-cluster.json and .md.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../../core/config.ts';
import { Stack } from '../../../infra/stack/stack.ts';
import { stackFaultSuite } from '../../support/fault-suite.ts';
import { CLUSTER_FAULTS } from '../../support/faults.ts';

const config = loadConfig();
let stack: Stack | undefined;
const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

beforeAll(async () => {
  if (config.stack.brokers !== 3 || config.stack.connectWorkers !== 2) throw new Error('run with the cluster project of vitest.faults.config.ts: it sets the replicated stack\'s environment');
  // A fresh cluster each run: whatever an earlier run left running is stopped, its state removed.
  await new Stack(config).down(log);
  rmSync(config.stack.stateDir, { recursive: true, force: true });
  // Made after the removal: a component's directories are made when it is constructed.
  stack = new Stack(config);
  await stack.up(log);
}, 600_000);

// The state directory (data and logs) stays until the next run: what to read when a fault failed.
afterAll(async () => {
  await stack?.down(log);
}, 300_000);

stackFaultSuite({
  sagas: 40,
  targets: CLUSTER_FAULTS,
  writeResults: true,
  resultsSuffix: 'cluster',
  description: 'A replicated stack: three Kafka nodes (KRaft; saga topics with 3 replicas, min.insync.replicas 2, producers acks=all and idempotent) and two Kafka Connect workers in one group. Per fault, 40 model trainings and 10 model deployments (plus one probe saga started while the part is down); the part is SIGKILLed and stays down until the probe saga has completed, then is started again. Time to recover: from the SIGKILL until the probe completed, with the part still down; healthy after: until the part, started again, passed its health check.',
});
