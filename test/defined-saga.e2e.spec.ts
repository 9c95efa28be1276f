/**
 * A saga defined by its user — not the training example — on the real stack: provisioned from its
 * definition and participants, run in this process through the public API, with steps in parallel,
 * a pivot, retries, a deadline and compensations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPool } from '../core/clients.ts';
import { MessageValidationError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, sagaTopic, SAGAS_DATABASE, type InstanceStatus, type SagaClient, type SagaRecord } from '../index.ts';
import { deliverSagaAgain } from './support/redeliver.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { ORDER_PARTICIPANTS, ORDER_PARTICIPANTS_V2, ORDER_SCHEMAS, orderFulfilment, orderFulfilmentV2, type OrderPlaced } from './fixtures/order-saga/saga.ts';
import { createLogger } from '../core/log.ts';
import { monitorGroup } from '../processors/engine/monitor.ts';
import { participantGroup } from '../processors/engine/run-participant.ts';

const running: { stop(): Promise<void> }[] = [];
const logger = createLogger({ logLevel: 'warn' }, 'order-saga');
let client: SagaClient;
let clientV2: SagaClient | undefined;
const tenant = uniqueName('tenant');
const pools = {
  payments: pgPool(config, 'orders_payments', 2),
  warehouse: pgPool(config, 'orders_warehouse', 2),
  shipping: pgPool(config, 'orders_shipping', 2),
  engine: pgPool(config, SAGAS_DATABASE, 2),
};

async function place(levers: Partial<OrderPlaced> = {}): Promise<string> {
  return client.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 1250, ...levers }, { tenantId: tenant });
}

async function ended(sagaId: string, timeoutMs = 60_000): Promise<SagaRecord> {
  const terminal: InstanceStatus[] = ['Completed', 'Compensated', 'Failed', 'Parked'];
  return waitFor(`saga ${sagaId} to end or park`, async () => {
    const record = await client.get(sagaId);
    return record && terminal.includes(record.status) ? record : undefined;
  }, { timeoutMs });
}

const stepStatuses = (r: SagaRecord) => Object.fromEntries(Object.entries(r.state.steps).map(([name, s]) => [name, s.status]));
const rows = async (pool: keyof typeof pools, sql: string, sagaId: string) => (await pools[pool].query(sql, [sagaId])).rows;
const business = async (sagaId: string) => ({
  charges: (await rows('payments', 'select status from charges where saga_id = $1', sagaId)).map((r) => r.status),
  reservations: (await rows('warehouse', 'select status from reservations where saga_id = $1', sagaId)).map((r) => r.status),
  shipments: (await rows('shipping', 'select confirmed from shipments where saga_id = $1', sagaId)).map((r) => r.confirmed),
});

describe('a saga of its user’s own, on the real stack', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, schemas: ORDER_SCHEMAS });
    running.push(await runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger }));
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    client = await sagaClient([orderFulfilment], { config, schemas: ORDER_SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    await clientV2?.close();
    for (const r of running.reverse()) await r.stop();
    for (const pool of Object.values(pools)) await pool.end();
  });

  it('given a good order, when it is placed, then both branches, the shipment and the confirmation run once and it completes', async () => {
    const sagaId = await place();
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    expect(stepStatuses(saga)).toEqual({ CHARGE: 'succeeded', RESERVE_STOCK: 'succeeded', SHIP: 'succeeded', CONFIRM: 'succeeded' });
    expect(saga.state.steps.SHIP?.result).toEqual({ trackingId: `tr-${sagaId}` });
    expect(saga.tenantId).toBe(tenant);
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [true] });
  });

  it('given the stock is unavailable, when the order is placed, then the parallel charge is refunded and the saga ends Compensated', async () => {
    const sagaId = await place({ failAt: 'RESERVE_STOCK' });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(stepStatuses(saga)).toEqual({ CHARGE: 'compensated', RESERVE_STOCK: 'failed', SHIP: 'pending', CONFIRM: 'pending' });
    expect(saga.state.steps.RESERVE_STOCK?.reason).toBe('RESERVE_STOCK refused by the test');
    expect(await business(sagaId)).toEqual({ charges: ['refunded'], reservations: [], shipments: [] });
  });

  it('given the card is declined, when the order is placed, then the reserved stock is released', async () => {
    const sagaId = await place({ failAt: 'CHARGE' });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(stepStatuses(saga)).toMatchObject({ CHARGE: 'failed', RESERVE_STOCK: 'compensated' });
    expect(await business(sagaId)).toEqual({ charges: [], reservations: ['released'], shipments: [] });
  });

  it('given the shipment fails after the pivot, then nothing is compensated and the saga is parked, its reason visible', async () => {
    const sagaId = await place({ failAt: 'SHIP' });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Parked');
    expect(saga.state.reason).toBe('SHIP failed after the pivot: SHIP refused by the test');
    expect(stepStatuses(saga)).toEqual({ CHARGE: 'succeeded', RESERVE_STOCK: 'succeeded', SHIP: 'failed', CONFIRM: 'pending' });
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [] });
  });

  it('given the payment service fails transiently twice, then the third attempt charges once and the saga completes', async () => {
    const sagaId = await place({ transientAt: 'CHARGE', transientCount: 2 });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [true] });
  });

  it('given the payment service stays unavailable, then its retries run out, the step fails and the stock is released', async () => {
    const sagaId = await place({ transientAt: 'CHARGE', transientCount: 99 });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps.CHARGE?.reason).toMatch(/^gave up after 3 attempts: CHARGE briefly unavailable \(attempt 3\)$/);
    expect(await business(sagaId)).toEqual({ charges: [], reservations: ['released'], shipments: [] });
  });

  it('given the warehouse answers after its deadline, then the step times out, the charge is refunded, and the late reservation is released too', async () => {
    const sagaId = await place({ slowAt: 'RESERVE_STOCK', slowMs: 9_000 });
    const timedOut = await ended(sagaId);
    expect(timedOut.status).toBe('Compensated');
    expect(timedOut.state.steps.RESERVE_STOCK).toMatchObject({ status: 'failed', timedOut: true, reason: 'RESERVE_STOCK did not answer within 5000 ms' });
    const released = await waitFor('the late reservation to be released', async () => {
      const record = await client.get(sagaId);
      return record?.state.steps.RESERVE_STOCK?.status === 'compensated' ? record : undefined;
    }, { timeoutMs: 60_000 });
    expect(released.status).toBe('Compensated');
    expect(await business(sagaId)).toEqual({ charges: ['refunded'], reservations: ['released'], shipments: [] });
    // The deadline fired once, however often the monitor looked.
    expect(await rows('engine', 'select step from saga_timeouts where saga_id = $1', sagaId)).toEqual([{ step: 'RESERVE_STOCK' }]);
  });

  it('given a refund that keeps failing, then CompensationFailed ends the saga Failed, naming the step', async () => {
    const sagaId = await place({ failAt: 'RESERVE_STOCK', stuckCompensationOf: 'CHARGE' });
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Failed');
    expect(saga.state.reason).toMatch(/^compensation of CHARGE failed: gave up after 3 attempts: cannot undo CHARGE yet$/);
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: [], shipments: [] });
  });

  it('given a start message its schema refuses, then start throws naming the field and writes nothing', async () => {
    const before = (await pools.engine.query('select count(*)::int as n from outbox')).rows[0].n;
    await expect(client.start(orderFulfilment, { orderId: 42, amountCents: 'lots' }, { tenantId: tenant })).rejects.toThrow(MessageValidationError);
    await expect(client.start(orderFulfilment, { orderId: 42, amountCents: 1 }, { tenantId: tenant })).rejects.toThrow(/payload\.orderId/);
    expect((await pools.engine.query('select count(*)::int as n from outbox')).rows[0].n).toBe(before);
  });

  it('given every message of a completed saga delivered a second time, then no effect happens twice', async () => {
    const sagaId = await place();
    await ended(sagaId);
    await deliverSagaAgain(sagaTopic(orderFulfilment).name, sagaId, 5, [
      ...ORDER_PARTICIPANTS.map((p) => participantGroup(p)),
      monitorGroup('order-fulfilment'),
    ]);
    // (The business tables have no unique key on the saga: an effect run twice would show as a second row.)
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [true] });
    for (const pool of ['payments', 'warehouse', 'shipping'] as const) {
      expect(await rows(pool, 'select last_error from sagaline_deferred where saga_id = $1', sagaId)).toEqual([]);
    }
    expect((await client.get(sagaId))?.status).toBe('Completed');
  });

  it('given an instance in flight under v1 when v2 (an added step) is provisioned, then it finishes under v1 while new ones run v2', async () => {
    // Given the v1 runners stopped, v2 provisioned, and a v1 saga started meanwhile (by a client that
    // knows only v1): in flight, nothing has handled it. (Provisioned first: its RESERVE_STOCK
    // deadline of 5 s runs from its start, and provisioning can take longer than that on a slow machine.)
    for (const r of running.splice(0).reverse()) await r.stop();
    const both = [orderFulfilment, orderFulfilmentV2];
    await provisionSagas(config, { sagas: both, participants: [...ORDER_PARTICIPANTS, ...ORDER_PARTICIPANTS_V2], schemas: ORDER_SCHEMAS });
    const inFlight = await place();
    // When the runners come back knowing both versions (v2 the latest)
    running.push(await runSagaMonitor(both, { config, schemas: ORDER_SCHEMAS, logger }));
    for (const [i, p] of ORDER_PARTICIPANTS.entries()) running.push(await runParticipant([p, ORDER_PARTICIPANTS_V2[i]!], { config, schemas: ORDER_SCHEMAS, logger }));
    clientV2 = await sagaClient(both, { config, schemas: ORDER_SCHEMAS });
    const fresh = await clientV2.start(orderFulfilmentV2, { orderId: uniqueName('order'), amountCents: 700 }, { tenantId: tenant });
    // Then the v1 instance completes with v1's four steps, the new one with v2's five
    const v1 = await ended(inFlight);
    expect(v1).toMatchObject({ status: 'Completed', version: 1 });
    expect(Object.keys(v1.state.steps).sort()).toEqual(['CHARGE', 'CONFIRM', 'RESERVE_STOCK', 'SHIP']);
    const v2 = await ended(fresh);
    expect(v2).toMatchObject({ status: 'Completed', version: 2 });
    expect(stepStatuses(v2)).toEqual({ CHARGE: 'succeeded', RESERVE_STOCK: 'succeeded', SHIP: 'succeeded', CONFIRM: 'succeeded', NOTIFY: 'succeeded' });
    expect(v2.state.steps.NOTIFY?.result).toEqual({ channel: 'email' });
    expect(await business(inFlight)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [true] });
  });

  it('given runners given only v1, when a v2 instance starts, then each participant parks its message naming v2 and goes on', async () => {
    for (const r of running.splice(0).reverse()) await r.stop();
    running.push(await runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger }));
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    const both = [orderFulfilment, orderFulfilmentV2];
    await provisionSagas(config, { sagas: both, participants: [...ORDER_PARTICIPANTS, ...ORDER_PARTICIPANTS_V2], schemas: ORDER_SCHEMAS });
    clientV2 ??= await sagaClient(both, { config, schemas: ORDER_SCHEMAS });
    const v2 = await clientV2.start(orderFulfilmentV2, { orderId: uniqueName('order'), amountCents: 300 }, { tenantId: tenant });
    for (const pool of ['payments', 'warehouse', 'shipping'] as const) {
      const parked = await waitFor(`${pool} to park it`, async () => (await rows(pool, 'select last_error e from sagaline_deferred where saga_id = $1', v2)).map((r) => r.e).at(0), { timeoutMs: 60_000 });
      expect(parked).toMatch(/^not retried: saga order-fulfilment v2 is not among the versions this runner was given \(v1\)/);
    }
    expect(await business(v2)).toEqual({ charges: [], reservations: [], shipments: [] });
    expect((await ended(await place())).status).toBe('Completed');
  });
});
