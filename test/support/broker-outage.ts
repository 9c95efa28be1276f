/**
 * A long broker outage under load. While sagas run (and more are requested during the outage,
 * into the outboxes), the Kafka broker is SIGKILLed and kept down for longer than Connect gives a
 * stopping task (task.shutdown.graceful.timeout.ms, 120 s): Connect abandons its Debezium tasks,
 * which live on inside the worker holding their replication slots, so the tasks it starts once the
 * broker is back cannot stream — while Connect reports every one RUNNING.
 *
 * - `guard: 'on'`: the delivery guard runs all along (the default): nothing is done by hand, and
 *   every saga must complete, nothing lost, each effect once.
 * - `guard: 'later'`: the guard is off until the stall has been seen by every health check
 *   (`stack status`, GET /health, GET /metrics) while Connect says RUNNING; then the saga-state
 *   processor is started again with its guard, and the same must hold.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../api/server.ts';
import { waitFor } from '../../core/wait.ts';
import { Stack } from '../../infra/stack/stack.ts';
import { ConnectClient } from '../../outbox-connector/connect-client.ts';
import { provisionedConnectors, type DeliveryStatus } from '../../outbox-connector/delivery-health.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { processorsDown } from '../../processors/supervisor.ts';
import { loadContracts } from '../../schemas/contracts.ts';
import { checkDelivery, checkEffects, startBatch, type Batch, type BatchSaga } from './batch.ts';
import { sagaline } from './cli.ts';
import { deliveryLines, whereStuck } from './diagnose.ts';
import { failIfProcessorExited } from './faults.ts';
import { config } from './fixtures.ts';
import { processorConfig, restartProcessors, startProcessors, stopProcessors, trainNewModel, waitForNoLag, waitForTerminalOrDeadline } from './saga.ts';

export interface BrokerOutageOptions {
  outageMs: number;
  /** Sagas running when the broker dies. */
  sagas: number;
  /** Sagas requested while it is down. */
  duringOutage: number;
  guard: 'on' | 'later';
}

/** Deadlines longer than the outage and its recovery: the sagas must survive it, not time out. */
const deadlinesEnv = (outageMs: number): Record<string, string> =>
  Object.fromEntries(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((s) => [`SAGALINE_DEADLINE_${s}_MS`, String(outageMs + 600_000)]));

const SETTLE_MS = 300_000;

async function deliveryReport(): Promise<{ kafkaHealthy: boolean; delivery: DeliveryStatus[] }> {
  const run = await sagaline(['stack', 'status', '--json']);
  const parsed = JSON.parse(run.stdout) as { components: { name: string; healthy: boolean }[]; delivery: DeliveryStatus[] };
  return { kafkaHealthy: parsed.components.find((c) => c.name === 'kafka')?.healthy === true, delivery: parsed.delivery };
}

export function brokerOutageScenario(options: BrokerOutageOptions): void {
  const { outageMs } = options;
  const connectors = provisionedConnectors(config);
  const stack = new Stack(config);
  let writer: OutboxWriter;

  describe(`the broker down for ${outageMs / 1000} s under load (delivery guard ${options.guard === 'on' ? 'on throughout' : 'started after the stall was seen'})`, () => {
    beforeAll(async () => {
      await startProcessors({ ...deadlinesEnv(outageMs), ...(options.guard === 'later' ? { SAGALINE_DELIVERY_GUARD_MS: '0' } : {}) });
      writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
    });

    afterAll(async () => {
      await stack.up(() => undefined);
      await stopProcessors();
    });

    it('delivers every saga once the broker is back: none lost, none stuck, each effect once', async () => {
      // Given sagas under way, spread over every step
      const batch = await startBatch(options.sagas, 'outage', writer, (i) => 1_000 + (i % 5) * 1_500, [undefined]);

      // When the broker is killed and stays down, and more sagas are requested meanwhile (into the outboxes)
      const killedAt = Date.now();
      await stack.components.kafka.kill();
      const during: BatchSaga[] = [];
      for (let i = 0; i < options.duringOutage; i++) {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(outageMs / (options.duringOutage + 1))));
        // Written to the outbox only: nothing of a request touches Kafka
        during.push({ ...(await trainNewModel(batch.tenant, { trainingDurationMs: 1_000 }, writer)), failAt: undefined });
      }
      // (The health checks run against the outage too: Kafka is down and no connector delivers.)
      const mid = await deliveryReport();
      expect(mid.kafkaHealthy, 'kafka reported down during the outage').toBe(false);
      expect(mid.delivery.filter((d) => d.healthy).map((d) => d.connector), 'connectors reported delivering while the broker is down').toEqual([]);
      await waitFor('the outage to last its full length', () => Date.now() - killedAt >= outageMs, { timeoutMs: outageMs + 60_000, intervalMs: 1_000 });

      // And the broker comes back
      await stack.up(() => undefined);

      if (options.guard === 'later') {
        // Then, once Connect runs its new tasks, every health check says the connectors do not deliver — while Connect says RUNNING
        const connect = new ConnectClient(config.connectUrl);
        const stalled = await waitFor(
          'every connector to be reported stalled while Connect reports it RUNNING',
          async () => {
            const report = await deliveryReport();
            const statuses = await Promise.all(connectors.map((c) => connect.status(c.name)));
            const allRunning = statuses.every((s) => s?.connector.state === 'RUNNING' && s.tasks.every((t) => t.state === 'RUNNING'));
            return allRunning && report.delivery.length === connectors.length && report.delivery.every((d) => d.state === 'stalled') && report.delivery;
          },
          { timeoutMs: 180_000, intervalMs: 2_000 },
        );
        for (const d of stalled) {
          expect(d.detail, d.connector).toContain('no heartbeat record reached Kafka');
          expect(d.staleHolderPid, `${d.connector}: the connection holding its slot is named`).toBeTypeOf('number');
        }
        const api = buildApi(config, { logger: pino({ level: 'silent' }) });
        try {
          const health = await api.inject({ method: 'GET', url: '/health' });
          expect(health.statusCode).toBe(503);
          expect((health.json() as { delivery: DeliveryStatus[] }).delivery.map((d) => d.state)).toEqual(connectors.map(() => 'stalled'));
          const metrics = (await api.inject({ method: 'GET', url: '/metrics' })).body;
          for (const c of connectors) expect(metrics).toContain(`sagaline_delivery_healthy{connector="${c.name}",slot="${c.slotName}"} 0`);
        } finally {
          await api.close();
        }
        // When the saga-state processor runs again, its delivery guard on
        await processorsDown(processorConfig, ['saga-state']);
        restartProcessors({ SAGALINE_DELIVERY_GUARD_MS: '' });
      }

      // Then every saga completes with nothing done by hand, nothing lost, each effect once
      const all: Batch = { ...batch, sagas: [...batch.sagas, ...during], ids: [...batch.ids, ...during.map((s) => s.sagaId)] };
      const { outcomes, stuck, abortedBy } = await waitForTerminalOrDeadline(all.ids, SETTLE_MS, failIfProcessorExited);
      const problems = [...(abortedBy ? [`stopped waiting: ${abortedBy}`] : [])];
      if (stuck.length > 0) problems.push(...(await whereStuck(stuck)), ...(await deliveryLines()));
      else await waitForNoLag(120_000);
      const effects = await checkEffects(all, outcomes);
      const delivery = await checkDelivery(all);
      expect({
        states: [...new Set([...outcomes.values()].map((s) => s.state))],
        lost: [...delivery.lost, ...effects.lost],
        duplicated: [...delivery.duplicated, ...effects.duplicated],
        problems,
      }).toEqual({ states: ['Completed'], lost: [], duplicated: [], problems: [] });
      // And every connector is reported delivering again
      await waitFor('every connector to be reported delivering', async () => (await deliveryReport()).delivery.every((d) => d.healthy), { timeoutMs: 120_000, intervalMs: 2_000 });
    }, outageMs + 180_000 + SETTLE_MS + 600_000);
  });
}
