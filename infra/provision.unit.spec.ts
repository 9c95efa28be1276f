import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import { ok, participant } from '../processors/engine/participant.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import type { Contracts } from '../schemas/contracts.ts';
import { checkSagaInput, outboxSources } from './provision-sagas.ts';

const act = () => ok({});
const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  startedBy: 'TripRequested',
  steps: {
    BOOK_FLIGHT: { owner: 'flights', succeeded: 'FlightBooked', failed: 'FlightUnavailable', compensatedBy: 'FlightCancelled' },
    PAY: { owner: 'billing', after: ['BOOK_FLIGHT'], succeeded: 'TripPaid', failed: 'PaymentRefused' },
  },
});
const refund = defineSaga({
  name: 'refund-claim',
  version: 1,
  startedBy: 'ClaimFiled',
  steps: { PAY_OUT: { owner: 'billing', succeeded: 'ClaimPaid', failed: 'ClaimRejected' } },
});
const flights = participant(trip, 'flights', { database: 'flights', steps: { BOOK_FLIGHT: { act, compensate: act } } });
const tripBilling = participant(trip, 'billing', { database: 'billing', steps: { PAY: { act } } });
const refundBilling = participant(refund, 'billing', { database: 'billing', steps: { PAY_OUT: { act } } });

/** Contracts with one minimal record per message name: what checkSagaInput looks up. */
function contractsOf(names: readonly string[]): Contracts {
  const messages = new Map(names.map((name) => [name, avsc.Type.forSchema({ type: 'record', name, namespace: 'dev.test.trips', fields: [{ name: 'sagaId', type: 'string' }] }) as avsc.types.RecordType]));
  return { registry: {}, messages, sources: new Map() };
}
const everyMessage = contractsOf([...trip.messages.keys(), ...refund.messages.keys(), 'FareChanged']);

describe('outboxSources', () => {
  it('given two sagas sharing a database, then the engine’s outbox admits every saga, each participant database its own sagas’ and every stream', () => {
    // Given two sagas, one service with a participant in each on one database, and a stream
    const sources = outboxSources({ sagas: [trip, refund], participants: [flights, tripBilling, refundBilling], streams: { 'fare-changes': ['FareChanged'] } });

    // Then there is one source per database, the engine's first, with the aggregate types its rows may carry
    expect(sources).toEqual([
      { database: SAGAS_DATABASE, aggregateTypes: ['refund-claim', 'trip-booking'] },
      { database: 'flights', aggregateTypes: ['fare-changes', 'trip-booking'] },
      { database: 'billing', aggregateTypes: ['fare-changes', 'refund-claim', 'trip-booking'] },
    ]);
  });

  it('given two versions of one saga, then its aggregate type is listed once', () => {
    const tripV2 = defineSaga({ name: 'trip-booking', version: 2, startedBy: 'TripRequested', steps: { BOOK_FLIGHT: { owner: 'flights', succeeded: 'FlightBooked', failed: 'FlightUnavailable' } } });
    const flightsV2 = participant(tripV2, 'flights', { database: 'flights', steps: { BOOK_FLIGHT: { act } } });
    expect(outboxSources({ sagas: [trip, tripV2], participants: [flights, flightsV2] })).toEqual([
      { database: SAGAS_DATABASE, aggregateTypes: ['trip-booking'] },
      { database: 'flights', aggregateTypes: ['trip-booking'] },
    ]);
  });
});

describe('checkSagaInput', () => {
  it('given matching definitions, participants, streams and schemas, then it returns the contracts with the engine’s messages added', () => {
    const contracts = checkSagaInput({ sagas: [trip, refund], participants: [flights, tripBilling, refundBilling], schemas: everyMessage, streams: { 'fare-changes': ['FareChanged'] } });
    expect([...contracts.messages.keys()]).toEqual(expect.arrayContaining(['TripRequested', 'ClaimPaid', 'FareChanged', 'SagaStarted', 'StepTimedOut', 'CompensationFailed']));
  });

  it('given a participant of a saga not given, one on the engine’s database, a version given twice and a stream named like a saga, then one ConfigError lists each', () => {
    // Given input wrong in four ways at once
    const onEngine = participant(trip, 'flights', { database: SAGAS_DATABASE, steps: { BOOK_FLIGHT: { act, compensate: act } } });
    const tripAgain = defineSaga({ name: 'trip-booking', version: 1, startedBy: 'TripRequested', steps: { PAY: { owner: 'billing', succeeded: 'TripPaid', failed: 'PaymentRefused' } } });
    const attempt = () => checkSagaInput({ sagas: [trip, tripAgain], participants: [onEngine, refundBilling], schemas: everyMessage, streams: { 'trip-booking': ['FareChanged'] } });

    // Then nothing is provisioned, and the error names every problem
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/^cannot provision these sagas:\n/);
    expect(attempt).toThrow('saga trip-booking v1 is given twice; give each version once (an added step is a new version)');
    expect(attempt).toThrow('stream trip-booking has the name of a saga: both would use topic sagaline.trip-booking; rename the stream');
    expect(attempt).toThrow('participant billing runs saga refund-claim v1, which is not among the sagas given');
    expect(attempt).toThrow(`participant flights: database ${SAGAS_DATABASE} is the engine's; give the service its own`);
  });

  it('given a stream carrying a message no schema defines, then the error names the stream and the message', () => {
    expect(() => checkSagaInput({ sagas: [trip], participants: [flights], schemas: everyMessage, streams: { 'fare-changes': ['FareChanged', 'FareWithdrawn'] } })).toThrow(
      'stream fare-changes: no schema defines message FareWithdrawn',
    );
  });

  it('given schemas lacking a message of a definition, then the error names the saga and the message', () => {
    const withoutPaid = contractsOf([...trip.messages.keys()].filter((m) => m !== 'TripPaid'));
    expect(() => checkSagaInput({ sagas: [trip], participants: [flights], schemas: withoutPaid })).toThrow(/saga trip-booking names message TripPaid, which has no schema/);
  });
});
