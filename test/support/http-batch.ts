/**
 * Sagas whose steps are HTTP calls (test/fixtures/http-saga), started one after another through a
 * crash scenario — four defined, then four the same trip posted as data (a posted saga, its steps named as
 * the defined saga's, so the checks read both alike): every fourth has its hotel refuse (409), every
 * fourth another its hotel answer 503 once; and the checks that the services' own records agree
 * with each saga's outcome.
 */
import type { InstanceState, InstanceStatus } from '../../processors/saga/instance.ts';
import { sagaClient } from '../../processors/engine/client.ts';
import { idempotencyKey } from '../../processors/engine/http-participant.ts';
import { parsePostedSaga, postedSagas } from '../../processors/engine/posted-sagas.ts';
import { config, uniqueName } from './fixtures.ts';
import type { TestServices } from './http-services.ts';
import { TRIP_SCHEMAS, tripBooking } from '../fixtures/http-saga/saga.ts';

export interface HttpBatch {
  ids: string[];
  /** Per saga: its trip, whether its hotel was made to refuse, and whether it was posted as data. */
  trips: Map<string, { tripId: string; refused: boolean; posted: boolean }>;
}

const ACTIONS = { FLIGHT: '/flights/book', HOTEL: '/hotels/book', CAR: '/cars/rent', LOUNGE: '/lounges/book' } as const;
const COMPENSATIONS = { FLIGHT: '/flights/cancel', HOTEL: '/hotels/cancel', CAR: '/cars/return', LOUNGE: '/lounges/cancel' } as const;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The trip of tripBooking, as a posted saga's typed steps. */
function postedTrip(trip: { tripId: string; traveller: string }) {
  const step = (service: string, name: keyof typeof ACTIONS, after: string[]) => ({ service, action: ACTIONS[name], compensation: COMPENSATIONS[name], payload: trip, after, retryLimit: 3 });
  return parsePostedSaga({
    name: 'trip',
    steps: { FLIGHT: step('flights', 'FLIGHT', []), HOTEL: step('hotels', 'HOTEL', ['FLIGHT']), CAR: step('cars', 'CAR', ['HOTEL']), LOUNGE: step('flights', 'LOUNGE', ['HOTEL']) },
  });
}

/**
 * Starts one saga every `everyMs` until `stop()` (which resolves to the batch), so some are in
 * flight whenever a process is killed; the hotel takes `hotelMs` to answer, so some kills land
 * while a call is under way.
 */
export function startHttpTrickle(services: TestServices, label: string, everyMs = 1_000, hotelMs = 500): { stop(): Promise<HttpBatch> } {
  const trips = new Map<string, { tripId: string; refused: boolean; posted: boolean }>();
  let stopping = false;
  const running = (async () => {
    const client = await sagaClient([tripBooking, postedSagas], { config, schemas: TRIP_SCHEMAS });
    try {
      for (let i = 0; !stopping; i++) {
        const tripId = uniqueName(`${label}-trip`);
        const refused = i % 4 === 1;
        const transient = i % 4 === 2;
        services.script(tripId, ACTIONS.HOTEL, async (n) => {
          await pause(hotelMs);
          if (refused) return { status: 409, body: { error: 'no rooms' } };
          return transient && n === 1 ? { status: 503 } : { status: 200, body: { ref: `h-${tripId}` } };
        });
        // Four defined, then four posted: each kind gets a refusal, a 503 and plain ones.
        const posted = Math.floor(i / 4) % 2 === 1;
        const trip = { tripId, traveller: `t${i}` };
        const sagaId = await client.start(posted ? postedSagas : tripBooking, posted ? postedTrip(trip) : trip, { tenantId: `${label}-tenant` });
        trips.set(sagaId, { tripId, refused, posted });
        await pause(everyMs);
      }
    } finally {
      await client.close();
    }
  })();
  return {
    async stop() {
      stopping = true;
      await running;
      return { ids: [...trips.keys()], trips };
    },
  };
}

type Outcomes = Map<string, { status: InstanceStatus; state: InstanceState }>;

/** A refused hotel ends Compensated; the others Completed, or Compensated when a step ran out of time during the kills. */
export function httpOutcomeProblems(batch: HttpBatch, outcomes: Outcomes): string[] {
  const problems: string[] = [];
  for (const [sagaId, { refused }] of batch.trips) {
    const o = outcomes.get(sagaId);
    if (refused && o?.status !== 'Compensated') problems.push(`${sagaId}: hotel refused, but ${o?.status}`);
    if (!refused && o?.status !== 'Completed' && !(o?.status === 'Compensated' && Object.values(o.state.steps).some((s) => s.timedOut))) {
      problems.push(`${sagaId}: expected Completed, got ${o?.status} (${o?.state.reason ?? ''})`);
    }
  }
  return problems;
}

/**
 * What the services did, against each outcome. `lost`: a completed saga with a step its service
 * never did, or a compensated one with a step done and not undone. `duplicated`: a step called
 * under more than one key (the service could not have recognised the repeat). `repeats`: calls that
 * repeated a key (at-least-once delivery, answered by the service from its record).
 */
export function checkHttpEffects(batch: HttpBatch, outcomes: Outcomes, services: TestServices): { lost: string[]; duplicated: string[]; repeats: number } {
  const lost: string[] = [];
  const duplicated: string[] = [];
  let repeats = 0;
  for (const [sagaId, { tripId }] of batch.trips) {
    const calls = services.callsFor(tripId);
    repeats += calls.filter((c) => c.replayed).length;
    const status = outcomes.get(sagaId)?.status;
    for (const step of Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]) {
      const did = calls.some((c) => c.path === ACTIONS[step] && c.status >= 200 && c.status < 300);
      const undid = calls.some((c) => c.path === COMPENSATIONS[step] && c.status >= 200 && c.status < 300);
      if (status === 'Completed' && (!did || undid)) lost.push(`${sagaId} ${step}: completed, but done ${did}, undone ${undid}`);
      if (status === 'Compensated' && did && !undid) lost.push(`${sagaId} ${step}: compensated, but done and never undone`);
      for (const [path, call] of [[ACTIONS[step], 'action'], [COMPENSATIONS[step], 'compensation']] as const) {
        const keys = new Set(calls.filter((c) => c.path === path).map((c) => c.idempotencyKey));
        if (keys.size > 1 || (keys.size === 1 && !keys.has(idempotencyKey(sagaId, step, call)))) duplicated.push(`${sagaId} ${step} ${call}: keys ${[...keys].join(', ')}`);
      }
    }
  }
  return { lost, duplicated, repeats };
}
