/**
 * The choreographed training saga on the real stack, with every processor running as its own OS
 * process: the happy path, a failure at each step, a step timeout with a late reply, duplicated
 * delivery, and the projection rebuilt from the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPool } from '../core/clients.ts';
import { newId, newTraceparent } from '../core/ids.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { compareProjections, liveOffsets, rebuildProjection } from '../processors/saga-state/rebuild.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { EVENT_LOG_TOPICS } from '../topics/catalogue.ts';
import { consumeUntil } from './support/consume.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { businessSnapshot, trainNewModel, query, startProcessors, stopProcessors, waitForNoLag, waitForTerminal } from './support/saga.ts';
import { kafkaClient } from '../core/clients.ts';
import { Partitioners } from 'kafkajs';
import { waitFor } from '../core/wait.ts';
import type { Step } from '../schemas/generated.ts';

const tenant = uniqueName('tenant');
const started: string[] = [];

async function train(options: { failAt?: Step; hangAt?: Step } = {}): Promise<{ sagaId: string; modelId: string }> {
  const saga = await trainNewModel(tenant, { trainingDurationMs: 500, ...options });
  started.push(saga.sagaId);
  return saga;
}

describe('the training saga across real processes', () => {
  beforeAll(async () => {
    await startProcessors();
  });

  afterAll(async () => {
    await stopProcessors();
  });

  it('completes the happy path with consistent business tables', async () => {
    const { sagaId, modelId } = await train();
    const saga = (await waitForTerminal([sagaId])).get(sagaId)!;
    expect(saga.state).toBe('Completed');
    expect(saga.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // The end-of-saga releases happen just after SagaCompleted
    await waitFor('reservation and allocation released', async () => {
      const snap = await businessSnapshot(sagaId, modelId);
      return JSON.stringify(snap.reservations) === '[{"status":"released"}]' && JSON.stringify(snap.allocations) === '[{"status":"released"}]' ? snap : false;
    }, { timeoutMs: 30_000 });
    expect(await businessSnapshot(sagaId, modelId)).toEqual({
      model: [{ version: 'v2', reserved_by: null }],
      versions: [{ version: 'v2' }],
      reservations: [{ status: 'released' }],
      allocations: [{ status: 'released' }],
      jobs: [{ status: 'completed' }],
      audit: [{ entry: 'completed', version: 'v2' }],
    });
  });

  it.each(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'] as Step[])('a failure at %s ends Compensated with every earlier effect undone', async (step) => {
    const { sagaId, modelId } = await train({ failAt: step });
    const saga = (await waitForTerminal([sagaId])).get(sagaId)!;
    expect(saga.state).toBe('Compensated');
    expect(saga.failedStep).toBe(step);
    const snap = await businessSnapshot(sagaId, modelId);
    expect(snap.model).toEqual([{ version: 'v1', reserved_by: null }]);
    expect(snap.reservations).toEqual(step === 'RESERVE' ? [] : [{ status: 'released' }]);
    expect(snap.allocations).toEqual(['RESERVE', 'ALLOCATE'].includes(step) ? [] : [{ status: 'released' }]);
    expect((snap.jobs as { status: string }[]).filter((j) => j.status === 'running' || j.status === 'completed')).toEqual([]);
    expect(snap.audit).toEqual([]);
  });

  it('a step that never answers times out and compensates; a late reply after that changes nothing', async () => {
    // Given a training that hangs past its deadline
    const { sagaId, modelId } = await train({ hangAt: 'TRAIN' });
    const saga = (await waitForTerminal([sagaId])).get(sagaId)!;
    expect(saga.state).toBe('Compensated');
    expect(saga.failedStep).toBe('TRAIN');
    expect(saga.reason).toBe('TRAIN timed out');
    const before = await businessSnapshot(sagaId, modelId);
    expect(before.model).toEqual([{ version: 'v1', reserved_by: null }]);
    expect(before.jobs).toEqual([{ status: 'cancelled' }]);

    // When the training's completion arrives late (as from a worker that was stuck)
    const writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
    const late = {
      type: 'TrainingCompleted' as const,
      payload: { sagaId, jobId: newId(), artifacts: { modelBinaryUri: 's3://late/model.bin', metadata: {}, metrics: {} }, completedAt: Date.now() },
      metadata: { messageId: newId(), sagaId, tenantId: tenant, correlationId: sagaId, causationId: newId(), traceparent: newTraceparent() },
    };
    const pool = pgPool(config, 'training_service', 1);
    const client = await pool.connect();
    try {
      await client.query('begin');
      await writer.publish(client, late);
      await client.query('commit');
    } finally {
      client.release();
      await pool.end();
    }
    // Then, once every processor has handled it, nothing changed
    await waitFor('the late TrainingCompleted to be handled by model-service', async () =>
      (await query('model_service', 'select 1 from inbox where message_id = $1', [late.metadata.messageId])).length === 1, { timeoutMs: 60_000 });
    await waitFor('the late TrainingCompleted to be projected', async () => {
      const s = (await query<{ state: { processed: string[] } }>('sagaline', 'select state from saga_state where saga_id = $1', [sagaId]))[0];
      return s?.state.processed.includes(late.metadata.messageId) ?? false;
    }, { timeoutMs: 60_000 });
    expect(await businessSnapshot(sagaId, modelId)).toEqual(before);
    expect((await waitForTerminal([sagaId])).get(sagaId)!.state).toBe('Compensated');
  });

  it('every message delivered twice changes nothing', async () => {
    // Given a completed saga
    const { sagaId, modelId } = await train();
    await waitForTerminal([sagaId]);
    await waitFor('both end-of-saga releases to be projected', async () => {
      const state = (await query<{ state: { steps: Record<string, { released: boolean }> } }>('sagaline', 'select state from saga_state where saga_id = $1', [sagaId]))[0]?.state;
      return state?.steps.RESERVE?.released === true && state.steps.ALLOCATE?.released === true;
    }, { timeoutMs: 30_000 });
    await waitForNoLag(); // every processor, the projection included, has read everything so far
    const before = await businessSnapshot(sagaId, modelId);
    const stateBefore = (await query('sagaline', 'select state from saga_state where saga_id = $1', [sagaId]))[0];

    // When every one of its records is produced to Kafka a second time, bytes and headers unchanged
    const topics = EVENT_LOG_TOPICS.map((t) => t.name);
    const records = await consumeUntil(topics, `the 10 messages of saga ${sagaId}`, (all) => all.filter((r) => r.key === sagaId).length >= 10, { timeoutMs: 60_000 });
    const ours = records.filter((r) => r.key === sagaId);
    expect(ours.map((r) => r.headers.eventType).sort()).toEqual([
      'AuditLogged', 'ModelReservationReleased', 'ModelReserved', 'ModelUpdated', 'ResourcesAllocated', 'ResourcesReleased', 'SagaCompleted', 'TrainingCompleted', 'TrainingRequested', 'TrainingStarted',
    ]);
    const producer = kafkaClient(config, 'duplicator').producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (const r of ours) await producer.send({ topic: r.topic, messages: [{ key: r.key, value: r.value, headers: r.headers }] });
    await producer.disconnect();

    // Then, once every processor has consumed them, nothing changed
    await waitForNoLag();
    expect(await businessSnapshot(sagaId, modelId)).toEqual(before);
    expect((await query('sagaline', 'select state from saga_state where saga_id = $1', [sagaId]))[0]).toEqual(stateBefore);
  });

  it('rebuilding the projection from the log gives the live state', async () => {
    // Freeze the live projection, then fold the log up to exactly where it stands
    await stopProcessors();
    const pool = pgPool(config, 'sagaline', 2);
    try {
      const table = uniqueName('saga_state_rebuild');
      const result = await rebuildProjection(config, pool, table, { upTo: await liveOffsets(pool) });
      expect(result.messages).toBeGreaterThan(0);
      const differences = await compareProjections(pool, table, "saga_state", started);
      expect(differences, JSON.stringify(differences, null, 1).slice(0, 3000)).toEqual([]);
      await pool.query(`drop table ${table}`);
    } finally {
      await pool.end();
    }
  });
});
