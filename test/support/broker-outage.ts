/**
 * A long broker outage under load. While sagas run (and more are requested during the outage,
 * into the outboxes), the Kafka broker is SIGKILLed and kept down for longer than Connect gives a
 * stopping task (task.shutdown.graceful.timeout.ms, 120 s): Connect abandons its Debezium tasks,
 * which live on inside the worker holding their replication slots, so the tasks it starts once the
 * broker is back cannot stream — while Connect reports every one RUNNING.
 * The delivery guard runs all along, as it does by default: nothing is done by hand, and every
 * saga must complete, nothing lost, each effect once. (How the health checks see such a stall, and
 * how the guard mends it, step by step: test/delivery-stall.e2e.spec.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../core/wait.ts';
import { Stack } from '../../infra/stack/stack.ts';
import type { DeliveryStatus } from '../../outbox-connector/delivery-health.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../../schemas/contracts.ts';
import { checkDelivery, checkEffects, SMALL_JOB, startBatch, type Batch, type BatchSaga } from './batch.ts';
import { sagaline } from './cli.ts';
import { deliveryLines, whereStuck } from './diagnose.ts';
import { processExitWatch } from './faults.ts';
import { config } from './fixtures.ts';
import { startProcessors, stopProcessors, testProject, trainNewModel, TRAINING_CONFIG, waitForNoLag, waitForTerminalOrDeadline } from './saga.ts';

export interface BrokerOutageOptions {
  outageMs: number;
  /** Sagas running when the broker dies. */
  sagas: number;
  /** Sagas requested while it is down. */
  duringOutage: number;
}

/** Deadlines longer than the outage and its recovery: the sagas must survive it, not time out. */
const deadlinesEnv = (outageMs: number): Record<string, string> =>
  Object.fromEntries(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((s) => [`TRAINING_DEADLINE_${s}_MS`, String(outageMs + 600_000)]));

const SETTLE_MS = 300_000;

async function deliveryReport(): Promise<{ kafkaHealthy: boolean; delivery: DeliveryStatus[] }> {
  const run = await sagaline(['stack', 'status', '--json']);
  const parsed = JSON.parse(run.stdout) as { components: { name: string; healthy: boolean }[]; delivery: DeliveryStatus[] };
  return { kafkaHealthy: parsed.components.find((c) => c.name === 'kafka')?.healthy === true, delivery: parsed.delivery };
}

export function brokerOutageScenario(options: BrokerOutageOptions): void {
  const { outageMs } = options;
  const stack = new Stack(config);
  let failIfProcessorExited: () => void = () => undefined;

  describe(`the broker down for ${outageMs / 1000} s under load`, () => {
    beforeAll(async () => {
      await startProcessors(deadlinesEnv(outageMs));
      failIfProcessorExited = processExitWatch([{ file: TRAINING_CONFIG, project: await testProject() }]);
    });

    afterAll(async () => {
      await stack.up(() => undefined);
      await stopProcessors();
    });

    it('delivers every saga once the broker is back: none lost, none stuck, each effect once', async () => {
      // Given sagas under way, spread over every step
      const batch = await startBatch(options.sagas, 'outage', (i) => 1_000 + (i % 5) * 1_500, [undefined]);

      // When the broker is killed and stays down, and more sagas are requested meanwhile (into the outboxes)
      const killedAt = Date.now();
      await stack.components.kafka.kill();
      const during: BatchSaga[] = [];
      for (let i = 0; i < options.duringOutage; i++) {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(outageMs / (options.duringOutage + 1))));
        // Written to the outbox only: nothing of a request touches Kafka
        during.push({ ...(await trainNewModel(batch.tenant, { trainingDurationMs: 1_000, resources: SMALL_JOB })), failAt: undefined });
      }
      // (The health checks run against the outage too: Kafka is down and no connector delivers.)
      const mid = await deliveryReport();
      expect(mid.kafkaHealthy, 'kafka reported down during the outage').toBe(false);
      expect(mid.delivery.filter((d) => d.healthy).map((d) => d.connector), 'connectors reported delivering while the broker is down').toEqual([]);
      await waitFor('the outage to last its full length', () => Date.now() - killedAt >= outageMs, { timeoutMs: outageMs + 60_000, intervalMs: 1_000 });

      // And the broker comes back
      await stack.up(() => undefined);

      // Then every saga completes with nothing done by hand, nothing lost, each effect once
      const all: Batch = { ...batch, sagas: [...batch.sagas, ...during], ids: [...batch.ids, ...during.map((s) => s.sagaId)] };
      const { outcomes, stuck, abortedBy } = await waitForTerminalOrDeadline(all.ids, SETTLE_MS, failIfProcessorExited);
      const problems = [...(abortedBy ? [`stopped waiting: ${abortedBy}`] : [])];
      if (stuck.length > 0) problems.push(...(await whereStuck(stuck)), ...(await deliveryLines()));
      else await waitForNoLag(TRAINING_CONFIG, 120_000);
      const effects = await checkEffects(all, outcomes);
      const delivery = await checkDelivery(all);
      expect({
        states: [...new Set([...outcomes.values()].map((s) => (s.status === 'Completed' ? s.status : `${s.status}: ${s.state.reason ?? 'no reason'}`)))],
        lost: [...delivery.lost, ...effects.lost],
        duplicated: [...delivery.duplicated, ...effects.duplicated],
        problems,
      }).toEqual({ states: ['Completed'], lost: [], duplicated: [], problems: [] });
      // And every connector is reported delivering again
      await waitFor('every connector to be reported delivering', async () => (await deliveryReport()).delivery.every((d) => d.healthy), { timeoutMs: 120_000, intervalMs: 2_000 });
    }, outageMs + 180_000 + SETTLE_MS + 600_000);
  });
}
