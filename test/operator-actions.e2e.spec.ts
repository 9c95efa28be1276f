/**
 * Operator actions on the real stack: cancelling a running saga, retrying the compensation of a
 * Failed one once its cause is removed — each written to the saga's log (who, when, why), so audit
 * shows it and a rebuild reproduces it — and every refusal a clear error with nothing written.
 * The order saga runs in this process, as in defined-saga.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../audit/replay.ts';
import { auditInstance } from '../audit/timeline.ts';
import { kafkaClient, pgPool } from '../core/clients.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, sagaTopic, SAGAS_DATABASE, type SagaClient, type SagaRecord } from '../index.ts';
import { parkedMessages, resumeParked, skipParked, stuckSagas } from '../processors/engine/parked.ts';
import type { Project } from '../processors/engine/project.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment, type OrderPlaced } from './fixtures/order-saga/saga.ts';
import { config, uniqueName } from './support/fixtures.ts';

const logger = createLogger({ logLevel: 'warn' }, 'operator-actions');
const project: Project = { file: 'test/fixtures/order-saga/sagaline.config.ts', schemas: ORDER_SCHEMAS, sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, streams: {} };
const topic = sagaTopic(orderFulfilment).name;
const running: { stop(): Promise<void> }[] = [];
const pools = { payments: pgPool(config, 'orders_payments', 2), warehouse: pgPool(config, 'orders_warehouse', 2), shipping: pgPool(config, 'orders_shipping', 2) };
const admin = kafkaClient(config, uniqueName('actions-admin')).admin();
let client: SagaClient;
let monitor: { stop(): Promise<void> } | undefined;
const startMonitor = () => runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger });
const by = { by: 'the test', reason: 'customer asked' };

const place = (levers: Partial<OrderPlaced> = {}, sagaId?: string) => client.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 700, ...levers }, { tenantId: 'ops', ...(sagaId ? { sagaId } : {}) });
const recordOf = async (sagaId: string, what: string, ok: (r: SagaRecord) => boolean) => waitFor(what, async () => {
  const r = await client.get(sagaId);
  return r && ok(r) ? r : undefined;
}, { timeoutMs: 90_000 });
const ended = (sagaId: string) => recordOf(sagaId, `saga ${sagaId} to end or park`, (r) => ['Completed', 'Compensated', 'Failed', 'Parked'].includes(r.status));
const stepStatuses = (r: SagaRecord) => Object.fromEntries(Object.entries(r.state.steps).map(([name, s]) => [name, s.status]));
const business = async (sagaId: string) => ({
  charges: (await pools.payments.query('select status from charges where saga_id = $1', [sagaId])).rows.map((r) => r.status),
  reservations: (await pools.warehouse.query('select status from reservations where saga_id = $1', [sagaId])).rows.map((r) => r.status),
  shipments: (await pools.shipping.query('select confirmed from shipments where saga_id = $1', [sagaId])).rows.map((r) => r.confirmed),
});
const logEnd = async () => (await admin.fetchTopicOffsets(topic)).map((p) => `${p.partition}:${p.high}`).join(',');
const engine = pgPool(config, SAGAS_DATABASE, 1);
/** Rows the engine's outbox holds for a saga: what an action writes (Debezium then carries it to the log). */
const outboxRows = async (sagaId: string) => (await engine.query<{ n: number }>('select count(*)::int as n from outbox where saga_id = $1', [sagaId])).rows[0]!.n;

/** The action refused: its error, and nothing written to the log or changed in the projection. */
async function refusedWithNothingWritten(sagaId: string, action: () => Promise<unknown>): Promise<SagalineError> {
  const [before, end, rows] = [await client.get(sagaId), await logEnd(), await outboxRows(sagaId)];
  const err = await action().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SagalineError);
  expect(await outboxRows(sagaId)).toBe(rows);
  expect(await logEnd()).toBe(end);
  expect(await client.get(sagaId)).toEqual(before);
  return err as SagalineError;
}

describe('operator actions on a saga', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, schemas: ORDER_SCHEMAS });
    await admin.connect();
    monitor = await startMonitor();
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    client = await sagaClient([orderFulfilment], { config, schemas: ORDER_SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    for (const r of running.reverse()) await r.stop();
    await monitor?.stop();
    await admin.disconnect();
    await engine.end();
    for (const pool of Object.values(pools)) await pool.end();
  });

  it('given a running saga with its stock still being reserved, when it is cancelled, then the charge is refunded, the late reservation released, nothing shipped, and the log says who and why', async () => {
    // Given the charge done and the reservation still busy
    // (The reservation cannot answer for 4 s, its deadline is 5 s: the cancel lands well before it.)
    const sagaId = await place({ slowAt: 'RESERVE_STOCK', slowMs: 4_000 });
    await recordOf(sagaId, 'the charge done while the stock is still being reserved', (r) => r.state.steps.CHARGE?.status === 'succeeded' && r.state.steps.RESERVE_STOCK?.status === 'running');

    // When
    const taken = await client.cancel(sagaId, by);

    // Then it ends Compensated. The reservation, still retrying, either answered before its 5 s
    // deadline (and is undone) or after it (and is undone as a late success): wait until the
    // warehouse has no retry left for the saga, then compare.
    expect(taken).toMatchObject({ sagaId, type: 'SagaCancelRequested', status: 'Compensating' });
    expect((await ended(sagaId)).status).toBe('Compensated');
    await waitFor('the warehouse to have no retry left for the saga', async () => (await pools.warehouse.query('select 1 from sagaline_deferred where saga_id = $1', [sagaId])).rowCount === 0, { timeoutMs: 60_000 });
    const saga = await waitFor('the reservation undone, or never made', async () => {
      const r = await client.get(sagaId);
      const reservations = (await business(sagaId)).reservations;
      const step = r?.state.steps.RESERVE_STOCK?.status;
      return (step === 'compensated' && reservations.join() === 'released') || (step === 'failed' && reservations.length === 0) ? r : undefined;
    }, { timeoutMs: 60_000 });
    expect(saga.status).toBe('Compensated');
    expect(saga.state.reason).toBe('cancelled by the test: customer asked');
    const reserved = saga.state.steps.RESERVE_STOCK?.status === 'compensated';
    expect(stepStatuses(saga)).toEqual({ CHARGE: 'compensated', RESERVE_STOCK: reserved ? 'compensated' : 'failed', SHIP: 'pending', CONFIRM: 'pending' });
    expect(await business(sagaId)).toEqual({ charges: ['refunded'], reservations: reserved ? ['released'] : [], shipments: [] });
    // And audit shows the action; a rebuild from the log reproduces the projection
    const timeline = await auditInstance(config, project, sagaId, 60_000);
    expect(timeline.events.filter((e) => e.type === 'SagaCancelRequested').map((e) => [e.messageId, e.payload])).toEqual([[taken.messageId, { saga: orderFulfilment.name, by: 'the test', reason: 'customer asked' }]]);
    const rebuilt = await replay(config, project, { sagaId, rebuild: true });
    expect(rebuilt.rebuild?.differences).toEqual([]);
  });

  it('given a saga past its pivot, an ended one, an unknown one or no reason, when cancelled, then each is a clear error and nothing is written', async () => {
    const parked = await place({ failAt: 'SHIP' });
    expect((await ended(parked)).status).toBe('Parked');
    const completed = await place();
    expect((await ended(completed)).status).toBe('Completed');

    const pastPivot = await refusedWithNothingWritten(parked, () => client.cancel(parked, by));
    expect(pastPivot).toMatchObject({ code: 'ACTION_REFUSED', message: `cannot cancel saga ${parked}: ${parked} is past its pivot (SHIP: SHIP is failed): what it did cannot be undone` });
    const over = await refusedWithNothingWritten(completed, () => client.cancel(completed, by));
    expect(over).toMatchObject({ code: 'ACTION_REFUSED', message: `cannot cancel saga ${completed}: ${completed} has ended (Completed): nothing to cancel` });
    const unknown = await refusedWithNothingWritten(completed, () => client.cancel('no-such-saga', by));
    expect(unknown).toMatchObject({ code: 'SAGA_NOT_FOUND', message: 'no saga no-such-saga in the projection' });
    const noReason = await refusedWithNothingWritten(completed, () => client.cancel(completed, { by: 'the test', reason: ' ' }));
    expect(noReason).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('reason is required') });
    const notFailed = await refusedWithNothingWritten(completed, () => client.retry(completed, by));
    expect(notFailed).toMatchObject({ code: 'ACTION_REFUSED', message: `cannot retry the compensation of saga ${completed}: ${completed} is Completed: only a Failed saga's compensation can be retried` });
  });

  it('given a saga Failed because its refund was blocked, when the block is removed and its compensation retried, then the charge is refunded once and it ends Compensated', async () => {
    // Given the refund blocked before the saga starts, and the stock refused
    const sagaId = uniqueName('blocked');
    await pools.payments.query('insert into compensation_blocks (saga_id) values ($1)', [sagaId]);
    await place({ failAt: 'RESERVE_STOCK', blockedCompensationOf: 'CHARGE' }, sagaId);
    const failed = await ended(sagaId);
    expect(failed.status).toBe('Failed');
    expect(failed.state.reason).toMatch(/^compensation of CHARGE failed: .*undoing CHARGE is blocked/);
    expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: [], shipments: [] });

    // When the cause is removed and the compensation retried
    await pools.payments.query('delete from compensation_blocks where saga_id = $1', [sagaId]);
    const taken = await client.retry(sagaId, { by: 'the test', reason: 'refund service fixed' });

    // Then
    expect(taken).toMatchObject({ type: 'CompensationRetryRequested', status: 'Compensating' });
    const saga = await recordOf(sagaId, `saga ${sagaId} to be compensated`, (r) => r.status === 'Compensated');
    expect(saga.state.reason).toBe('compensation retried by the test: refund service fixed');
    expect(stepStatuses(saga)).toMatchObject({ CHARGE: 'compensated', RESERVE_STOCK: 'failed' });
    expect(await business(sagaId)).toEqual({ charges: ['refunded'], reservations: [], shipments: [] });
    const rebuilt = await replay(config, project, { sagaId, rebuild: true });
    expect(rebuilt.rebuild?.differences).toEqual([]);
  });

  describe('a message a participant parked', () => {
    const parkedAt = (sagaId: string, what: string) => waitFor(what, async () => (await parkedMessages(config, project, { sagaId })).find((m) => m.service === 'payments'), { timeoutMs: 30_000 });

    it('given a charge that hits a bug, then its message is parked and the saga listed as stuck; resumed while the bug is there it parks again; resumed once fixed, the charge is made once and the saga completes', async () => {
      // Given
      const sagaId = uniqueName('broken');
      await pools.payments.query('insert into faults (saga_id) values ($1)', [sagaId]);
      await place({ brokenAt: 'CHARGE' }, sagaId);
      const parked = await parkedAt(sagaId, 'the start message parked at payments');
      expect(parked).toMatchObject({ saga: orderFulfilment.name, type: 'OrderPlaced', error: 'CHARGE hit a bug the test planted' });
      const stuck = (await stuckSagas(config, project)).find((s) => s.sagaId === sagaId);
      expect(stuck?.reason).toMatch(/^its OrderPlaced is parked at payments after \d+ attempt\(s\): CHARGE hit a bug the test planted \(resume or skip it\)$/);

      // When it is resumed with the bug still there, then it parks again
      await pools.payments.query("update faults set note = 'again' where saga_id = $1", [sagaId]);
      const first = await resumeParked(config, project, sagaId, 'payments', { by: 'the test', reason: 'trying again' });
      expect(first).toMatchObject({ sagaId, service: 'payments', messageId: parked.messageId, type: 'OrderPlaced' });
      // (The planted bug now says "again": parked with that error, the message was handled anew.)
      await waitFor('the message parked again after the resume', async () => (await parkedMessages(config, project, { sagaId })).find((m) => m.error === 'CHARGE hit a bug the test planted (again)'), { timeoutMs: 30_000 });

      // When the bug is fixed and it is resumed
      await pools.payments.query('delete from faults where saga_id = $1', [sagaId]);
      await resumeParked(config, project, sagaId, 'payments', { by: 'the test', reason: 'bug fixed' });

      // Then the charge is made once and the saga completes; nothing is parked; the log says who and why
      expect((await ended(sagaId)).status).toBe('Completed');
      expect(await business(sagaId)).toEqual({ charges: ['charged'], reservations: ['reserved'], shipments: [true] });
      expect(await parkedMessages(config, project, { sagaId })).toEqual([]);
      const timeline = await auditInstance(config, project, sagaId, 60_000);
      expect(timeline.events.filter((e) => e.type === 'ParkedMessageResumed').map((e) => (e.payload as { reason: string }).reason)).toEqual(['trying again', 'bug fixed']);
    });

    it('given a parked charge, when it is skipped, then the charge is never made, its deadline passes, the stock is released and nothing stays parked', async () => {
      const sagaId = uniqueName('skipped');
      await pools.payments.query('insert into faults (saga_id) values ($1)', [sagaId]);
      await place({ brokenAt: 'CHARGE' }, sagaId);
      await parkedAt(sagaId, 'the start message parked at payments');

      const skipped = await skipParked(config, project, sagaId, 'payments', { by: 'the test', reason: 'charged by hand' });

      expect(skipped).toMatchObject({ sagaId, service: 'payments', type: 'OrderPlaced' });
      expect(await parkedMessages(config, project, { sagaId })).toEqual([]);
      const saga = await ended(sagaId);
      expect(saga.status).toBe('Compensated');
      expect(stepStatuses(saga)).toMatchObject({ CHARGE: 'failed', RESERVE_STOCK: 'compensated' });
      expect(saga.state.steps.CHARGE?.timedOut).toBe(true);
      expect(await business(sagaId)).toEqual({ charges: [], reservations: ['released'], shipments: [] });
      // The payments participant folded the skipped message into its view, and followed the saga to its end
      const view = await waitFor('the payments view to follow the saga to its end', async () => {
        const state = (await pools.payments.query<{ status: string | null }>("select state->>'status' as status from sagaline_instances where saga_id = $1", [sagaId])).rows[0]?.status;
        return state === 'Compensated' ? state : undefined;
      }, { timeoutMs: 30_000 });
      expect(view).toBe('Compensated');
      const timeline = await auditInstance(config, project, sagaId, 60_000);
      expect(timeline.events.filter((e) => e.type === 'ParkedMessageSkipped').map((e) => e.payload)).toEqual([
        { saga: orderFulfilment.name, service: 'payments', messageId: skipped.messageId, messageType: 'OrderPlaced', error: 'CHARGE hit a bug the test planted', by: 'the test', reason: 'charged by hand' },
      ]);
    });

    it('given no parked message, or an unknown service, when resumed or skipped, then each is a clear error and nothing is written', async () => {
      const completed = await place();
      expect((await ended(completed)).status).toBe('Completed');
      const none = await refusedWithNothingWritten(completed, () => resumeParked(config, project, completed, 'payments', by));
      expect(none).toMatchObject({ code: 'PARKED_MESSAGE_NOT_FOUND', message: `no message of saga ${completed} is parked at payments` });
      const unknown = await refusedWithNothingWritten(completed, () => skipParked(config, project, completed, 'boats', by));
      expect(unknown).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('has no participant of service "boats"') });
    });
  });

  it('given the monitor down while a step runs past its deadline, then the saga is listed as stuck with why; once the monitor is back, the deadline fires and it is stuck no more', async () => {
    // Given the stock reservation busy for longer than its 5 s deadline, and the monitor stopped
    // (The reservation cannot answer for 25 s: its 5 s deadline fires first once the monitor is back.)
    const sagaId = await place({ slowAt: 'RESERVE_STOCK', slowMs: 25_000 });
    await recordOf(sagaId, 'the stock reservation running', (r) => r.state.steps.RESERVE_STOCK?.status === 'running');
    await monitor!.stop();
    monitor = undefined;

    // Then, its deadline passed with no verdict, it is stuck, and says why
    const stuck = await waitFor('the saga listed as stuck', async () => (await stuckSagas(config, project, 500)).find((s) => s.sagaId === sagaId), { timeoutMs: 30_000 });
    expect(stuck).toMatchObject({ saga: orderFulfilment.name, status: 'Running' });
    expect(stuck.reason).toMatch(/^a step's deadline passed at \S+ with no verdict: is the saga monitor running\?$/);

    // When the monitor runs again, then the deadline fires, the saga compensates and is not stuck
    monitor = await startMonitor();
    const saga = await recordOf(sagaId, 'the saga compensated, the late reservation undone too', (r) => r.status === 'Compensated' && r.state.steps.RESERVE_STOCK?.status === 'compensated');
    expect(saga.state.steps.RESERVE_STOCK).toMatchObject({ timedOut: true, reason: 'succeeded after its deadline' });
    expect((await stuckSagas(config, project, 500)).map((s) => s.sagaId)).not.toContain(sagaId);
    expect(await business(sagaId)).toEqual({ charges: ['refunded'], reservations: ['released'], shipments: [] });
  });
});
