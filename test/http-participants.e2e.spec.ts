/**
 * Steps that are HTTP calls, on the real stack: a saga of three plain HTTP services (started here,
 * recording every call they receive) run by sagaline's HTTP participants — the happy path, a
 * business refusal with compensations in reverse, retries of 503s, a parallel branch undone, a
 * duplicate delivery, and the calls as the audit reads them from the log.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../core/wait.ts';
import { idempotencyKey, provisionSagas, runParticipant, runSagaMonitor, sagaClient, sagaTopic, staticServices, type InstanceStatus, type SagaClient, type SagaRecord } from '../index.ts';
import { createLogger } from '../core/log.ts';
import { monitorGroup } from '../processors/engine/monitor.ts';
import { participantGroup } from '../processors/engine/run-participant.ts';
import { deliverSagaAgain } from './support/redeliver.ts';
import { sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { startServices, type TestServices } from './support/http-services.ts';
import { TRIP_SCHEMAS, tripBooking, tripParticipants } from './fixtures/http-saga/saga.ts';

const CONFIG = ['--config', fileURLToPath(new URL('./fixtures/http-saga/sagaline.config.ts', import.meta.url))];
const logger = createLogger({ logLevel: 'warn' }, 'http-saga');
const running: { stop(): Promise<void> }[] = [];
let services: TestServices;
let client: SagaClient;
const tenant = uniqueName('tenant');

async function book(tripId = uniqueName('trip')): Promise<{ sagaId: string; tripId: string }> {
  const sagaId = await client.start(tripBooking, { tripId, traveller: 'Ada' }, { tenantId: tenant });
  return { sagaId, tripId };
}

async function ended(sagaId: string): Promise<SagaRecord> {
  const terminal: InstanceStatus[] = ['Completed', 'Compensated', 'Failed', 'Parked'];
  return waitFor(`saga ${sagaId} to end`, async () => {
    const record = await client.get(sagaId);
    return record && terminal.includes(record.status) ? record : undefined;
  }, { timeoutMs: 60_000 });
}

/** The paths called about one trip, in the order the services received them. */
const paths = (tripId: string) => services.callsFor(tripId).map((c) => c.path);
const statuses = (r: SagaRecord) => Object.fromEntries(Object.entries(r.state.steps).map(([name, s]) => [name, s.status]));

describe('steps that are HTTP calls, on the real stack', () => {
  beforeAll(async () => {
    services = await startServices(['flights', 'hotels', 'cars']);
    const participants = tripParticipants(staticServices(services.urls));
    await provisionSagas(config, { sagas: [tripBooking], participants, schemas: TRIP_SCHEMAS });
    running.push(await runSagaMonitor([tripBooking], { config, schemas: TRIP_SCHEMAS, logger }));
    for (const p of participants) running.push(await runParticipant(p, { config, schemas: TRIP_SCHEMAS, logger }));
    client = await sagaClient([tripBooking], { config, schemas: TRIP_SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    for (const r of running.reverse()) await r.stop();
    await services?.close();
  });

  it('given every service answers 200, when a trip is booked, then each action is called once, in order, and the saga completes', async () => {
    const { sagaId, tripId } = await book();
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    const called = paths(tripId);
    expect([...called].sort()).toEqual(['/cars/rent', '/flights/book', '/hotels/book', '/lounges/book']);
    // The flight before the hotel, the hotel before the two parallel branches.
    expect(called.slice(0, 2)).toEqual(['/flights/book', '/hotels/book']);
    // Each call carried the key of its step, and the start message as its body.
    for (const call of services.callsFor(tripId)) {
      expect(call.sagaId).toBe(sagaId);
      expect(call.body).toEqual({ tripId, traveller: 'Ada' });
    }
    expect(services.callsFor(tripId).find((c) => c.path === '/hotels/book')?.idempotencyKey).toBe(idempotencyKey(sagaId, 'HOTEL', 'action'));
    expect(saga.state.steps.FLIGHT?.result).toEqual({ status: 200, body: JSON.stringify({ ok: true, ref: `flights-${tripId}-1` }), attempt: 1 });
  });

  it('given the hotel refuses with 409, then the flight is cancelled once and the saga ends Compensated', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/hotels/book', () => ({ status: 409, body: { error: 'no rooms' } }));
    const { sagaId } = await book(tripId);
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    expect(statuses(saga)).toEqual({ FLIGHT: 'compensated', HOTEL: 'failed', CAR: 'pending', LOUNGE: 'pending' });
    expect(saga.state.steps.HOTEL?.reason).toBe(`POST ${services.urls.hotels}/hotels/book answered 409: {"error":"no rooms"}`);
    expect(paths(tripId)).toEqual(['/flights/book', '/hotels/book', '/flights/cancel']);
    const cancel = services.callsFor(tripId).at(-1);
    expect(cancel?.idempotencyKey).toBe(idempotencyKey(sagaId, 'FLIGHT', 'compensation'));
    expect(cancel?.body).toEqual({ step_id: `${sagaId}-FLIGHT`, original_payload: { tripId, traveller: 'Ada' }, result: { ok: true, ref: `flights-${tripId}-1` } });
  });

  it('given the car fails after the parallel lounge booking succeeded, then the lounge, the hotel and the flight are undone once each, in reverse', async () => {
    const tripId = uniqueName('trip');
    // The car answers only once the lounge (the other branch) has been booked, and refuses.
    services.script(tripId, '/cars/rent', async () => {
      await waitFor('the lounge to be booked', async () => paths(tripId).includes('/lounges/book'), { timeoutMs: 20_000 });
      return { status: 422, body: { error: 'no cars' } };
    });
    const { sagaId } = await book(tripId);
    const saga = await waitFor('every compensation to be recorded', async () => {
      const r = await ended(sagaId);
      return r.state.steps.FLIGHT?.status === 'compensated' ? r : undefined;
    }, { timeoutMs: 60_000 });
    expect(saga.status).toBe('Compensated');
    expect(statuses(saga)).toEqual({ FLIGHT: 'compensated', HOTEL: 'compensated', CAR: 'failed', LOUNGE: 'compensated' });
    const called = paths(tripId);
    expect(called.filter((p) => p.endsWith('/cancel'))).toEqual(['/lounges/cancel', '/hotels/cancel', '/flights/cancel']);
    expect(called.filter((p) => p === '/cars/return')).toEqual([]);
  });

  it('given the hotel answers 503 twice, then it is called again with the same key and the saga completes', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/hotels/book', (n) => (n <= 2 ? { status: 503, body: { error: 'busy' } } : { status: 201, body: { ref: 'h-1' } }));
    const { sagaId } = await book(tripId);
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Completed');
    const hotel = services.callsFor(tripId).filter((c) => c.path === '/hotels/book');
    expect(hotel.map((c) => c.status)).toEqual([503, 503, 201]);
    expect(new Set(hotel.map((c) => c.idempotencyKey))).toEqual(new Set([idempotencyKey(sagaId, 'HOTEL', 'action')]));
    expect(saga.state.steps.HOTEL?.result).toEqual({ status: 201, body: '{"ref":"h-1"}', attempt: 3 });
  });

  it('given the hotel stays unavailable, then its retries run out, the step fails and the flight is cancelled', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/hotels/book', () => ({ status: 503, body: { error: 'down' } }));
    const { sagaId } = await book(tripId);
    const saga = await ended(sagaId);
    expect(saga.status).toBe('Compensated');
    // The first call and the three retries its limit allows.
    expect(paths(tripId)).toEqual(['/flights/book', '/hotels/book', '/hotels/book', '/hotels/book', '/hotels/book', '/flights/cancel']);
    expect(saga.state.steps.HOTEL?.reason).toBe(`gave up after 4 attempts: POST ${services.urls.hotels}/hotels/book answered 503: {"error":"down"}`);
  });

  it('given every message of a completed saga delivered a second time, then no service is called twice with one key', async () => {
    const { sagaId, tripId } = await book();
    await ended(sagaId);
    await deliverSagaAgain(sagaTopic(tripBooking).name, sagaId, 6, [...['flights', 'hotels', 'cars'].map((service) => participantGroup({ saga: tripBooking, service })), monitorGroup(tripBooking.name)]);
    const keys = services.callsFor(tripId).map((c) => c.idempotencyKey);
    expect(keys).toHaveLength(4);
    expect(new Set(keys).size).toBe(4);
    expect((await client.get(sagaId))?.status).toBe('Completed');
  });

  it('given a saga with a retried and a refused call, when it is audited, then the log shows each step call and its outcome', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/hotels/book', (n) => (n === 1 ? { status: 503 } : { status: 200, body: { ref: 'h-2' } }));
    services.script(tripId, '/cars/rent', () => ({ status: 409, body: { error: 'no cars' } }));
    const { sagaId } = await book(tripId);
    await ended(sagaId);
    const result = await sagaline(['audit', sagaId, '--json', ...CONFIG]);
    expect(result.code, result.stderr).toBe(0);
    const timeline = JSON.parse(result.stdout) as { events: { type: string; payload: Record<string, unknown> }[]; state: { status: string } };
    const byType = Object.fromEntries(timeline.events.map((e) => [e.type, e.payload]));
    // The hotel's first call, answered 503, is in the log too, before its success
    expect(timeline.events.filter((e) => e.type === 'StepAttemptFailed').map((e) => e.payload)).toEqual([
      { saga: 'trip-booking', step: 'HOTEL', attempt: 1, compensation: false, reason: `POST ${services.urls.hotels}/hotels/book answered 503: {}` },
    ]);
    expect(timeline.events.findIndex((e) => e.type === 'StepAttemptFailed')).toBeLessThan(timeline.events.findIndex((e) => e.type === 'HotelBooked'));
    expect(byType.FlightBooked).toMatchObject({ status: 200, attempt: 1 });
    expect(byType.HotelBooked).toMatchObject({ status: 200, body: '{"ref":"h-2"}', attempt: 2 });
    expect(byType.CarRefused).toMatchObject({ status: 409, body: '{"error":"no cars"}' });
    expect(byType.FlightCancelled).toMatchObject({ status: 200 });
    expect(byType.HotelCancelled).toMatchObject({ status: 200 });
    expect(timeline.state.status).toBe('Compensated');
  });
});
