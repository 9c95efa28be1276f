/**
 * The model deployment example — built only on the public API — on the real stack: a parallel
 * pair of steps, a join, a pivot; a failure at each step gives the right compensations, in reverse
 * order of completion, and after the pivot only forward retries, or a parked saga.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPool } from '../core/clients.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { newId, provisionSagas, runParticipant, runSagaMonitor, sagaClient, type InstanceStatus, type SagaClient, type SagaRecord } from '../index.ts';
import type { DeploymentRequested } from '../examples/model-deployment/generated.ts';
import { DATABASES, deploymentParticipants } from '../examples/model-deployment/participants.ts';
import { deploymentSaga } from '../examples/model-deployment/saga.ts';
import { config, uniqueName } from './support/fixtures.ts';

const SCHEMAS = fileURLToPath(new URL('../examples/model-deployment/schemas', import.meta.url));
const saga = deploymentSaga();
const participants = deploymentParticipants(saga);
const logger = createLogger({ logLevel: 'warn' }, 'model-deployment');
const running: { stop(): Promise<void> }[] = [];
const pools = {
  registry: pgPool(config, DATABASES.registry, 2),
  serving: pgPool(config, DATABASES.serving, 2),
  catalogue: pgPool(config, DATABASES.catalogue, 2),
  announcements: pgPool(config, DATABASES.announcements, 2),
};
const tenant = uniqueName('deploy');
let client: SagaClient;

async function deploy(levers: Partial<DeploymentRequested> = {}): Promise<string> {
  const deploymentId = newId();
  return client.start(saga, { deploymentId, modelId: uniqueName('model'), version: 'v7', replicas: 2, failAt: null, transientAt: null, transientCount: 0, slowAt: null, slowMs: 0, ...levers }, { tenantId: tenant, sagaId: deploymentId });
}

async function ended(sagaId: string): Promise<SagaRecord> {
  const terminal: InstanceStatus[] = ['Completed', 'Compensated', 'Failed', 'Parked'];
  return waitFor(`deployment ${sagaId} to end or park`, async () => {
    const record = await client.get(sagaId);
    return record && terminal.includes(record.status) ? record : undefined;
  }, { timeoutMs: 90_000 });
}

const statuses = (r: SagaRecord) => Object.fromEntries(Object.entries(r.state.steps).map(([name, s]) => [name, s.status]));

/** What each service's tables say about one deployment. */
async function business(sagaId: string) {
  const q = async (pool: keyof typeof pools, sql: string) => (await pools[pool].query(sql, [sagaId])).rows;
  return {
    validated: (await q('registry', 'select 1 from validations where saga_id = $1')).length,
    endpoints: (await q('serving', 'select status from endpoints where saga_id = $1')).map((r) => r.status),
    entries: (await q('catalogue', 'select status from entries where saga_id = $1')).map((r) => r.status),
    traffic: (await q('serving', 'select endpoint_id from traffic where saga_id = $1')).map((r) => r.endpoint_id),
    announced: (await q('announcements', 'select 1 from announcements where saga_id = $1')).length,
  };
}

describe('the model deployment example on the real stack', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [saga], participants, schemas: SCHEMAS });
    running.push(await runSagaMonitor([saga], { config, schemas: SCHEMAS, logger, deliveryGuard: false }));
    for (const p of participants) running.push(await runParticipant(p, { config, schemas: SCHEMAS, logger }));
    client = await sagaClient([saga], { config, schemas: SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    for (const r of running.reverse()) await r.stop();
    for (const pool of Object.values(pools)) await pool.end();
  });

  it('given a model version, when it is deployed, then both branches, the smoke test, the switch and the announcement run once', async () => {
    const sagaId = await deploy();
    const record = await ended(sagaId);
    expect(record.status).toBe('Completed');
    expect(statuses(record)).toEqual({ VALIDATE: 'succeeded', PROVISION: 'succeeded', REGISTER: 'succeeded', SMOKE_TEST: 'succeeded', SWITCH_TRAFFIC: 'succeeded', ANNOUNCE: 'succeeded' });
    expect(await business(sagaId)).toEqual({ validated: 1, endpoints: ['provisioned'], entries: ['listed'], traffic: [`ep-${sagaId}`], announced: 1 });
  });

  it('given validation fails, then nothing ran after it and the deployment is Compensated with nothing to undo', async () => {
    const sagaId = await deploy({ failAt: 'VALIDATE' });
    const record = await ended(sagaId);
    expect(record.status).toBe('Compensated');
    expect(statuses(record)).toMatchObject({ VALIDATE: 'failed', PROVISION: 'pending', REGISTER: 'pending' });
    expect(await business(sagaId)).toEqual({ validated: 0, endpoints: [], entries: [], traffic: [], announced: 0 });
  });

  it('given registering fails while provisioning succeeds, then the sibling endpoint is torn down', async () => {
    const sagaId = await deploy({ failAt: 'REGISTER' });
    const record = await ended(sagaId);
    expect(record.status).toBe('Compensated');
    expect(statuses(record)).toMatchObject({ PROVISION: 'compensated', REGISTER: 'failed', SMOKE_TEST: 'pending' });
    expect(await business(sagaId)).toMatchObject({ endpoints: ['torn-down'], entries: [], traffic: [] });
  });

  it('given provisioning fails while registering succeeds, then the sibling catalogue entry is removed', async () => {
    const sagaId = await deploy({ failAt: 'PROVISION' });
    const record = await ended(sagaId);
    expect(record.status).toBe('Compensated');
    expect(statuses(record)).toMatchObject({ PROVISION: 'failed', REGISTER: 'compensated', SMOKE_TEST: 'pending' });
    expect(await business(sagaId)).toMatchObject({ endpoints: [], entries: ['removed'], traffic: [] });
  });

  it.each([
    ['REGISTER', 'PROVISION'],
    ['PROVISION', 'REGISTER'],
  ])('given %s completes after %s, when the smoke test fails, then the one completed last is undone first', async (last, first) => {
    // The later branch answers only after two seconds: it completes last
    const sagaId = await deploy({ slowAt: last, slowMs: 2_000, failAt: 'SMOKE_TEST' });
    const record = await ended(sagaId);
    expect(record.status).toBe('Compensated');
    expect(statuses(record)).toMatchObject({ PROVISION: 'compensated', REGISTER: 'compensated', SMOKE_TEST: 'failed' });
    const steps = record.state.steps;
    expect(Date.parse(steps[last]!.startedAt!)).toBeLessThanOrEqual(Date.parse(steps[first]!.startedAt!) + 1_000);
    // Completed last (its success is later), undone first (its compensation ended before the other's)
    expect(record.state.succeededInOrder.filter((s) => s === 'PROVISION' || s === 'REGISTER')).toEqual([first, last]);
    const tornDown = (await pools.serving.query('select torn_down_at from endpoints where saga_id = $1', [sagaId])).rows[0].torn_down_at as Date;
    const removed = (await pools.catalogue.query('select removed_at from entries where saga_id = $1', [sagaId])).rows[0].removed_at as Date;
    const undone = { PROVISION: tornDown.getTime(), REGISTER: removed.getTime() } as Record<string, number>;
    expect(undone[last]!).toBeLessThan(undone[first]!);
  });

  it('given the switch (the pivot) fails transiently, then it is retried forward and the deployment completes', async () => {
    const sagaId = await deploy({ transientAt: 'SWITCH_TRAFFIC', transientCount: 2 });
    const record = await ended(sagaId);
    expect(record.status).toBe('Completed');
    expect(await business(sagaId)).toMatchObject({ endpoints: ['provisioned'], entries: ['listed'], traffic: [`ep-${sagaId}`], announced: 1 });
  });

  it('given the announcement keeps failing after the pivot, then nothing is undone and the deployment is parked with its reason', async () => {
    const sagaId = await deploy({ transientAt: 'ANNOUNCE', transientCount: 99 });
    const record = await ended(sagaId);
    expect(record.status).toBe('Parked');
    expect(record.state.reason).toMatch(/^ANNOUNCE failed after the pivot: gave up after 4 attempts: ANNOUNCE unavailable/);
    expect(statuses(record)).toMatchObject({ PROVISION: 'succeeded', REGISTER: 'succeeded', SWITCH_TRAFFIC: 'succeeded', ANNOUNCE: 'failed' });
    expect(await business(sagaId)).toEqual({ validated: 1, endpoints: ['provisioned'], entries: ['listed'], traffic: [`ep-${sagaId}`], announced: 0 });
  });
});
