/**
 * A replication slot lost while Connect is down: with `max_slot_wal_keep_size` lowered, WAL written
 * meanwhile makes the server invalidate every slot; the outbox rows of the training example's
 * sagas (run by its processes) committed since are in no WAL any more. The health checks say so (lost, since when, how many rows), Connect coming back
 * changes nothing, and `sagaline outbox recover` creates the slots anew and re-sends the rows from
 * the outbox tables: every saga completes, each effect once.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../api/server.ts';
import { waitFor } from '../core/wait.ts';
import { Stack } from '../infra/stack/stack.ts';
import type { DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { provisionedConnectors } from '../outbox-connector/delivery-health.ts';
import type { SlotRecovery } from '../outbox-connector/slot-recovery.ts';
import { provisionSagas } from '../infra/provision-sagas.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import { checkDelivery, checkEffects, FAULT_DEADLINES_ENV, startBatch, type Batch } from './support/batch.ts';
import { sagaline } from './support/cli.ts';
import { config, createTestDatabase, type TestDatabase } from './support/fixtures.ts';
import { sagaRecords, startProcessors, stopProcessors, testProject, trainingSagaClient, waitForTerminal } from './support/saga.ts';
import { apiToken, bearer } from './support/tokens.ts';

const stack = new Stack(config);
const admin = new pg.Client({ connectionString: config.databaseUrl });
// The training example, provisioned before anything else: its databases' connectors are among the slots lost.
const project = await testProject();
await provisionSagas(config, { sagas: project.sagas, participants: project.participants, schemas: project.schemas, streams: project.streams });
const connectors = await provisionedConnectors(config);

async function deliveryStatus(): Promise<DeliveryStatus[]> {
  const run = await sagaline(['stack', 'status', '--json']);
  return (JSON.parse(run.stdout) as { delivery: DeliveryStatus[] }).delivery;
}

async function walStatuses(): Promise<Map<string, string>> {
  const { rows } = await admin.query<{ slot_name: string; wal_status: string }>('select slot_name, wal_status from pg_replication_slots');
  return new Map(rows.map((r) => [r.slot_name, r.wal_status]));
}

describe('a replication slot lost while Connect is down', () => {
  let filler: TestDatabase;

  beforeAll(async () => {
    await admin.connect();
    // Deadlines far beyond the time Connect is away: the sagas must survive it, not time out.
    await startProcessors(FAULT_DEADLINES_ENV);
    filler = await createTestDatabase('wal_filler');
  });

  afterAll(async () => {
    await admin.query('alter system reset max_slot_wal_keep_size').catch(() => undefined);
    await admin.query('select pg_reload_conf()').catch(() => undefined);
    await stack.up(() => undefined);
    await stopProcessors();
    await filler?.drop();
    await admin.end();
  });

  it('given every slot lost while Connect is down, then it is reported lost with the rows it strands; when `outbox recover` runs, then every row is delivered: each saga completes, each effect once', async () => {
    // Given sagas under way, and Connect stopped while the participants answer them
    const early = await startBatch(4, 'lost_slot', () => 3_000, [undefined]);
    await waitFor('the first sagas to be under way', async () => [...(await sagaRecords(early.ids)).values()].filter((s) => s.status === 'Running').length === early.ids.length, { timeoutMs: 60_000 });
    await stack.components.connect.stop();

    // And max_slot_wal_keep_size lowered, more sagas requested, and more WAL written than it allows
    await admin.query("alter system set max_slot_wal_keep_size = '32MB'");
    await admin.query('select pg_reload_conf()');
    const late = await startBatch(3, 'lost_slot_late', () => 1_000, [undefined]);
    await filler.pool.query('create table filler (id int, pad text)');
    const lost = await waitFor(
      'every provisioned slot to be lost',
      async () => {
        await filler.pool.query("insert into filler select g, repeat(md5(g::text), 32) from generate_series(1, 20000) g");
        await filler.pool.query('checkpoint');
        const statuses = await walStatuses();
        return connectors.every((c) => statuses.get(c.slotName) === 'lost') && statuses;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    expect([...lost.values()]).toContain('lost');

    // Then `stack status` names each lost slot, since when and how many rows it strands
    const reported = await deliveryStatus();
    for (const c of connectors) {
      const d = reported.find((r) => r.connector === c.name)!;
      expect(d, c.name).toMatchObject({ healthy: false, state: 'lost' });
      expect(d.detail).toContain('npx sagaline outbox recover');
      expect(typeof d.since).toBe('string');
    }
    // The engine's outbox holds the start of every saga: the late ones are stranded there
    const engine = reported.find((r) => connectors.find((c) => c.name === r.connector)?.database === SAGAS_DATABASE)!;
    expect(engine.strandedRows, 'the late requests, at least').toBeGreaterThanOrEqual(late.ids.length);

    // When Connect comes back, nothing changes: the connectors cannot stream from a lost slot
    await stack.up(() => undefined);
    const api = buildApi(config, { project, client: trainingSagaClient }, { logger: pino({ level: 'silent' }) });
    try {
      const health = await api.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      const body = health.json() as { delivery: DeliveryStatus[] };
      expect(body.delivery.filter((d) => d.state === 'lost').map((d) => d.connector).sort()).toEqual(connectors.map((c) => c.name).sort());
      const metrics = (await api.inject({ method: 'GET', url: '/metrics', headers: bearer(await apiToken()) })).body;
      expect(metrics).toMatch(new RegExp(`sagaline_delivery_state\\{connector="${engine.connector}",slot="${engine.slot}",state="lost"\\} 1`));
      expect(metrics).toMatch(new RegExp(`sagaline_outbox_stranded_rows\\{connector="${engine.connector}",slot="${engine.slot}"\\} [1-9]`));
    } finally {
      await api.close();
    }

    // When the one documented command recovers them
    const recover = await sagaline(['outbox', 'recover', '--json'], {}, 300_000);
    expect(recover.code, recover.stderr).toBe(0);
    const recovered = JSON.parse(recover.stdout) as SlotRecovery[];
    expect(recovered.map((r) => r.connector).sort()).toEqual(connectors.map((c) => c.name).sort());
    expect(recovered.find((r) => r.connector === engine.connector)!.resent).toBeGreaterThanOrEqual(late.ids.length);

    // Then every saga completes, every committed outbox row is in Kafka, and no effect happened twice
    const batch: Batch = { ...early, sagas: [...early.sagas, ...late.sagas], ids: [...early.ids, ...late.ids] };
    const outcomes = await waitForTerminal(batch.ids, 180_000);
    expect(batch.ids.map((id) => outcomes.get(id)?.status)).toEqual(batch.ids.map(() => 'Completed'));
    const effects = await checkEffects(batch, outcomes);
    const delivery = await checkDelivery(batch);
    expect({ lost: [...effects.lost, ...delivery.lost], duplicated: [...effects.duplicated, ...delivery.duplicated] }).toEqual({ lost: [], duplicated: [] });

    // And delivery is healthy again
    await waitFor('every connector to deliver again', async () => (await deliveryStatus()).every((d) => d.healthy), { timeoutMs: 60_000, intervalMs: 1_000 });
  }, 600_000);
});
