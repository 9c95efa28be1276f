/**
 * The ML training example — built only on the package's public API — on the real stack:
 * provisioned from its definition, its four services and the monitor run in this process, each
 * outcome checked in the services' own tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPool } from '../core/clients.ts';
import { waitFor } from '../core/wait.ts';
import { createLogger } from '../core/log.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, type InstanceStatus, type SagaClient, type SagaRecord } from '../index.ts';
import { addModel, MODEL_DATABASE } from '../examples/ml-training/models.ts';
import { AUDIT_DATABASE, RESOURCE_DATABASE, TRAINING_DATABASE, trainingParticipants } from '../examples/ml-training/participants.ts';
import { requestTraining, TrainingRequestError, type TrainingRequestInput } from '../examples/ml-training/request.ts';
import { trainingSaga } from '../examples/ml-training/saga.ts';
import { DEFAULT_SETTINGS } from '../examples/ml-training/settings.ts';
import { config, uniqueName } from './support/fixtures.ts';

const SCHEMAS = new URL('../examples/ml-training/schemas', import.meta.url).pathname;
// Short deadlines so a step that never answers times out within the test.
const saga = trainingSaga({ RESERVE: 8_000, ALLOCATE: 8_000, TRAIN: 6_000, UPDATE: 8_000, AUDIT: 8_000 });
const participants = trainingParticipants(saga, { ...DEFAULT_SETTINGS, jobPollMs: 100 });
const logger = createLogger({ logLevel: 'warn' }, 'ml-training');
const running: { stop(): Promise<void> }[] = [];
const pools = {
  models: pgPool(config, MODEL_DATABASE, 2),
  compute: pgPool(config, RESOURCE_DATABASE, 2),
  training: pgPool(config, TRAINING_DATABASE, 2),
  audit: pgPool(config, AUDIT_DATABASE, 2),
};
const tenant = uniqueName('tenant');
let client: SagaClient;

async function train(levers: Partial<TrainingRequestInput> = {}): Promise<{ sagaId: string; modelId: string }> {
  const modelId = uniqueName('model');
  await addModel(pools.models, { tenantId: tenant, modelId, version: 'v1' });
  const sagaId = await requestTraining(client, saga, pools.models, { tenantId: tenant, modelId, trainingDurationMs: 300, ...levers });
  return { sagaId, modelId };
}

async function ended(sagaId: string): Promise<SagaRecord> {
  const terminal: InstanceStatus[] = ['Completed', 'Compensated', 'Failed', 'Parked'];
  return waitFor(`training saga ${sagaId} to end`, async () => {
    const record = await client.get(sagaId);
    return record && terminal.includes(record.status) ? record : undefined;
  }, { timeoutMs: 90_000 });
}

const statuses = (r: SagaRecord) => Object.fromEntries(Object.entries(r.state.steps).map(([name, s]) => [name, s.status]));

/**
 * What each service's tables say once nothing is held for the saga any more (or, after 30 s, as
 * they are): each service lets go in onEnd when it folds the saga's end, which may come after the
 * monitor projected it.
 */
async function settledBusiness(sagaId: string, modelId: string) {
  type Snapshot = Awaited<ReturnType<typeof business>>;
  const letGo = (b: Snapshot) => b.model.every((m: { reserved_by: unknown }) => m.reserved_by === null) && !b.reservations.includes('held') && !b.allocations.includes('held');
  return waitFor('every service to let go of what the saga held', async () => {
    const now = await business(sagaId, modelId);
    return letGo(now) ? now : undefined;
  }, { timeoutMs: 30_000 }).catch(() => business(sagaId, modelId));
}

/** What each service's tables say about one saga. */
async function business(sagaId: string, modelId: string) {
  const q = async (pool: keyof typeof pools, sql: string, params: unknown[]) => (await pools[pool].query(sql, params)).rows;
  return {
    model: await q('models', 'select version, reserved_by from models where model_id = $1', [modelId]),
    reservations: (await q('models', 'select status from reservations where saga_id = $1', [sagaId])).map((r) => r.status),
    allocations: (await q('compute', 'select status from allocations where saga_id = $1', [sagaId])).map((r) => r.status),
    jobs: (await q('training', 'select status from training_jobs where saga_id = $1', [sagaId])).map((r) => r.status),
    audit: (await q('audit', 'select entry from audit_log where saga_id = $1 order by logged_at', [sagaId])).map((r) => r.entry),
  };
}

describe('the ML training example on the real stack', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [saga], participants, schemas: SCHEMAS });
    running.push(await runSagaMonitor([saga], { config, schemas: SCHEMAS, logger }));
    for (const p of participants) running.push(await runParticipant(p, { config, schemas: SCHEMAS, logger }));
    client = await sagaClient([saga], { config, schemas: SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    for (const r of running.reverse()) await r.stop();
    for (const pool of Object.values(pools)) await pool.end();
  });

  it('given a registered model, when training is requested, then every step runs once, the model moves to v2 and what the saga held is let go', async () => {
    const { sagaId, modelId } = await train();
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    expect(statuses(saga)).toEqual({ RESERVE: 'succeeded', ALLOCATE: 'succeeded', TRAIN: 'succeeded', UPDATE: 'succeeded', AUDIT: 'succeeded' });
    expect(saga.state.steps.UPDATE?.result).toMatchObject({ previousVersion: 'v1', newVersion: 'v2' });
    // onEnd released the reservation and the compute in the transaction that folded the completion
    expect(await settledBusiness(sagaId, modelId)).toEqual({ model: [{ version: 'v2', reserved_by: null }], reservations: ['released'], allocations: ['released'], jobs: ['completed'], audit: ['completed'] });
  });

  it.each(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'] as const)('given %s fails, then every step before it is undone in reverse order and the model is as it was', async (step) => {
    const { sagaId, modelId } = await train({ failAt: step });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps[step]).toMatchObject({ status: 'failed', reason: `simulated failure at ${step}` });
    const order = ['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'];
    const before = order.slice(0, order.indexOf(step));
    for (const s of before) expect(saga.state.steps[s]?.status, s).toBe('compensated');
    // Undone last-done first: each compensation ended before the one of the step before it began
    const undone = before.map((s) => saga.state.steps[s]!).reverse();
    for (let i = 1; i < undone.length; i++) expect(Date.parse(undone[i]!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(undone[i - 1]!.endedAt!));
    const snapshot = await settledBusiness(sagaId, modelId);
    expect(snapshot.model).toEqual([{ version: 'v1', reserved_by: null }]);
    expect(snapshot.reservations).toEqual(step === 'RESERVE' ? [] : ['released']);
    expect(snapshot.allocations).toEqual(['RESERVE', 'ALLOCATE'].includes(step) ? [] : ['released']);
    expect(snapshot.jobs.filter((j) => j === 'running' || j === 'completed')).toEqual([]);
    expect(snapshot.audit).toEqual([]);
  });

  it('given training never finishes, then its deadline passes, the job is cancelled and the saga compensates', async () => {
    const { sagaId, modelId } = await train({ hangAt: 'TRAIN' });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps.TRAIN).toMatchObject({ status: 'failed', timedOut: true, reason: 'TRAIN did not answer within 6000 ms' });
    expect(await settledBusiness(sagaId, modelId)).toEqual({ model: [{ version: 'v1', reserved_by: null }], reservations: ['released'], allocations: ['released'], jobs: ['cancelled'], audit: [] });
  });

  it('given the model service fails transiently twice, then the third attempt reserves once and the saga completes', async () => {
    const { sagaId, modelId } = await train({ transientFailures: { RESERVE: 2 } });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    // The failed attempts rolled back: one reservation, held while the saga ran, released at its end
    expect(await settledBusiness(sagaId, modelId)).toEqual({ model: [{ version: 'v2', reserved_by: null }], reservations: ['released'], allocations: ['released'], jobs: ['completed'], audit: ['completed'] });
  });

  it('given compute stays unavailable past its retry limit, then ALLOCATE fails and the reservation is released', async () => {
    const { sagaId, modelId } = await train({ transientFailures: { ALLOCATE: 9 } });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps.ALLOCATE?.reason).toMatch(/^gave up after 3 attempts: ALLOCATE unavailable/);
    expect(await settledBusiness(sagaId, modelId)).toMatchObject({ model: [{ version: 'v1', reserved_by: null }], reservations: ['released'], allocations: [] });
  });

  it('given a request for more GPUs than the whole pool, then ALLOCATE fails naming what is short and nothing is held', async () => {
    const gpus = DEFAULT_SETTINGS.pool.gpuCount + 1;
    const { sagaId, modelId } = await train({ resources: { gpuCount: gpus } });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps.ALLOCATE?.reason).toMatch(new RegExp(`^not enough free compute: gpuCount ${gpus} > \\d+ free$`));
    expect(await settledBusiness(sagaId, modelId)).toMatchObject({ model: [{ version: 'v1', reserved_by: null }], reservations: ['released'], allocations: [] });
  });

  it('given a release that keeps failing, then the saga ends Failed naming the step', async () => {
    const { sagaId } = await train({ failAt: 'ALLOCATE', transientFailures: { RESERVE_COMPENSATION: 99 } });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Failed');
    expect(saga.state.reason).toMatch(/^compensation of RESERVE failed: gave up after 4 attempts: RESERVE_COMPENSATION unavailable/);
  });

  it('given a model not registered for the tenant, then the request is refused before anything is written', async () => {
    await expect(requestTraining(client, saga, pools.models, { tenantId: tenant, modelId: uniqueName('unknown') })).rejects.toThrow(TrainingRequestError);
    await expect(requestTraining(client, saga, pools.models, { tenantId: tenant, modelId: 'm', failAt: 'deploy' })).rejects.toThrow(/failAt must be one of reserve, allocate, train, update, audit, got "deploy"/);
  });
});
