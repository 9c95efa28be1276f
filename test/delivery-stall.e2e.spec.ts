/**
 * A connector that does not deliver while Kafka Connect reports it RUNNING: another connection
 * holds its replication slot and confirms nothing — what a Debezium task that Connect abandoned
 * during a long broker outage does (docs/outbox-delivery.md). Here that connection is made on
 * purpose, so the stall happens every run. The health checks (`stack status`, GET /health,
 * GET /metrics) report the connector stalled and name the holder; once the delivery guard runs (in
 * the saga monitor), it ends that connection, the connector's own task takes the slot, and a
 * training saga (the example's processes) that was waiting on the connector completes.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../api/server.ts';
import { databaseUrlFor } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { provisionedConnectors, type DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { provisionSagas } from '../infra/provision-sagas.ts';
import { MONITOR_PROCESS, processorsDown } from '../processors/supervisor.ts';
import { AUDIT_DATABASE } from '../examples/ml-training/participants.ts';
import { STEPS } from '../examples/ml-training/settings.ts';
import { SMALL_JOB } from './support/batch.ts';
import { sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { processorConfig, query, restartProcessors, sagaRecords, startProcessors, stopProcessors, testProject, trainingSagaClient, trainNewModel, waitForTerminal } from './support/saga.ts';
import { apiToken, bearer } from './support/tokens.ts';

// The training example, provisioned first. Its audit database is written only at a saga's last step: a saga waits there on this connector.
const project = await testProject();
await provisionSagas(config, { sagas: project.sagas, participants: project.participants, schemas: project.schemas, streams: project.streams });
const target = (await provisionedConnectors(config)).find((c) => c.database === AUDIT_DATABASE)!;
const connect = new ConnectClient(config.connectUrls);

async function deliveryOf(connector: string): Promise<DeliveryStatus> {
  const run = await sagaline(['stack', 'status', '--json']);
  return (JSON.parse(run.stdout) as { delivery: DeliveryStatus[] }).delivery.find((d) => d.connector === connector)!;
}

/** A replication connection that takes the slot and reads nothing, confirms nothing (the server never times it out). */
async function holdSlot(slot: string, publication: string): Promise<{ pid: number; client: pg.Client }> {
  const client = new pg.Client({ connectionString: databaseUrlFor(config, target.database), replication: 'database', options: '-c wal_sender_timeout=0' } as pg.ClientConfig);
  client.on('error', () => undefined); // ended by the guard, as intended
  await client.connect();
  client.query(`START_REPLICATION SLOT ${pg.escapeIdentifier(slot)} LOGICAL 0/0 (proto_version '1', publication_names ${pg.escapeLiteral(publication)})`).catch(() => undefined);
  const pid = await waitFor(
    `our connection to hold slot ${slot}`,
    async () => (await query<{ pid: number | null }>(target.database, 'select active_pid as pid from pg_replication_slots where slot_name = $1', [slot]))[0]?.pid ?? undefined,
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return { pid, client };
}

describe('a connector stalled behind a connection that holds its slot', () => {
  let holder: { pid: number; client: pg.Client } | undefined;
  beforeAll(async () => {
    // The delivery guard off at first, so the stall lasts until it has been looked at; deadlines far beyond the stall
    const deadlines = Object.fromEntries(STEPS.map((s) => [`TRAINING_DEADLINE_${s}_MS`, '600000']));
    await startProcessors({ ...deadlines, SAGALINE_DELIVERY_GUARD_MS: '0' });
  });

  afterAll(async () => {
    await holder?.client.end().catch(() => undefined);
    await connect.resume(target.name).catch(() => undefined);
    await stopProcessors();
  });

  it('given another connection holding its slot, then every health check reports it stalled while Connect says RUNNING; when the delivery guard runs, then it mends it and the waiting saga completes', async () => {
    // Given the connector's slot taken over by another connection while its task was stopped
    await connect.stop(target.name);
    await connect.waitStopped(target.name, 60_000);
    await waitFor('the slot to be released', async () => (await query<{ active: boolean }>(target.database, 'select active from pg_replication_slots where slot_name = $1', [target.slotName]))[0]?.active === false, { timeoutMs: 60_000 });
    holder = await holdSlot(target.slotName, target.slotName);
    await connect.resume(target.name);
    await connect.waitRunning(target.name, 60_000);

    // And a saga that reaches its audit step, whose AuditLogged this connector should deliver
    const { sagaId } = await trainNewModel(uniqueName('stall'), { trainingDurationMs: 500, resources: SMALL_JOB });
    await waitFor('the saga to write its audit entry', async () => (await query<{ n: number }>(AUDIT_DATABASE, 'select count(*)::int as n from outbox where saga_id = $1', [sagaId]))[0]!.n > 0, { timeoutMs: 120_000 });

    // Then stack status reports it stalled, naming the connection that holds its slot, while Connect says RUNNING
    const stalled = await waitFor(
      `${target.name} to be reported stalled with its slot's holder named`,
      async () => {
        const d = await deliveryOf(target.name);
        return d.state === 'stalled' && d.staleHolderPid !== undefined && d;
      },
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    expect(stalled).toMatchObject({ healthy: false, task: 'RUNNING/RUNNING', staleHolderPid: holder.pid });
    expect(stalled.detail).toContain(`held by pid ${holder.pid}`);
    const status = await connect.status(target.name);
    expect([status!.connector.state, ...status!.tasks.map((t) => t.state)]).toEqual(['RUNNING', 'RUNNING']);
    // And so do /health (503) and /metrics
    const api = buildApi(config, { project, client: trainingSagaClient }, { logger: pino({ level: 'silent' }) });
    try {
      const health = await api.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect((health.json() as { delivery: DeliveryStatus[] }).delivery.find((d) => d.connector === target.name)).toMatchObject({ state: 'stalled', staleHolderPid: holder.pid });
      const metrics = (await api.inject({ method: 'GET', url: '/metrics', headers: bearer(await apiToken()) })).body;
      expect(metrics).toContain(`sagaline_delivery_healthy{connector="${target.name}",slot="${target.slotName}"} 0`);
      expect(metrics).toContain(`sagaline_delivery_state{connector="${target.name}",slot="${target.slotName}",state="stalled"} 1`);
    } finally {
      await api.close();
    }
    // And the saga waits at its audit step
    const waiting = (await sagaRecords([sagaId])).get(sagaId);
    expect(waiting?.status).toBe('Running');
    expect(waiting?.state.steps.AUDIT?.status).toBe('running');

    // When the saga monitor runs with its delivery guard
    await processorsDown(processorConfig, project, [MONITOR_PROCESS]);
    await restartProcessors({ SAGALINE_DELIVERY_GUARD_MS: '' });

    // Then the guard ends the holding connection, the connector's task streams, and the saga completes
    await waitFor('the holding connection to be ended', async () => (await query(target.database, 'select 1 from pg_stat_activity where pid = $1', [holder!.pid])).length === 0, { timeoutMs: 60_000, intervalMs: 500 });
    const outcome = (await waitForTerminal([sagaId], 240_000)).get(sagaId)!;
    expect(outcome.status).toBe('Completed');
    await waitFor(`${target.name} to be reported delivering`, async () => (await deliveryOf(target.name)).healthy, { timeoutMs: 120_000, intervalMs: 2_000 });
  }, 720_000);
});
