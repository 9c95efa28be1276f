import { describe, expect, it } from 'vitest';
import { defineSaga } from '../processors/saga/define-saga.ts';
import type { SagaRecord } from '../processors/engine/client.ts';
import type { InstanceState } from '../processors/saga/instance.ts';
import { fluxoraShape } from './fluxora-shape.ts';

const trip = defineSaga({
  name: 'trip',
  version: 1,
  startedBy: 'TripRequested',
  steps: {
    FLIGHT: { owner: 'flights', succeeded: 'FlightBooked', failed: 'FlightRefused', compensatedBy: 'FlightCancelled' },
    HOTEL: { owner: 'hotels', after: ['FLIGHT'], succeeded: 'HotelBooked', failed: 'HotelRefused', compensatedBy: 'HotelCancelled' },
  },
});

const record = (status: SagaRecord['status'], steps: InstanceState['steps'], reason?: string): SagaRecord => ({
  sagaId: 's-1',
  saga: 'trip',
  version: 1,
  status,
  tenantId: 't',
  startedAt: new Date('2026-12-04T10:00:00.000Z'),
  updatedAt: new Date('2026-12-04T10:00:02.500Z'),
  endedAt: null,
  state: { sagaId: 's-1', saga: 'trip', version: 1, status, start: { type: 'TripRequested', payload: {} }, startedAt: '2026-12-04T10:00:00.000Z', steps, succeededInOrder: [], ...(reason ? { reason } : {}) },
});

describe('the Fluxora shape of an instance', () => {
  it('given a saga under way, then its state, each step with its service, state and the answer of an HTTP step, and the current step', () => {
    const shape = fluxoraShape(trip, record('Running', { FLIGHT: { status: 'succeeded', attempts: 1, result: { status: 201, body: '{"ref":"F1"}', attempt: 1 } }, HOTEL: { status: 'running', attempts: 0 } }));
    expect(shape).toEqual({
      saga_id: 's-1',
      name: 'trip',
      state: 'EXECUTING',
      steps: [
        { id: 's-1-step-0', name: 'FLIGHT', service_name: 'flights', state: 'EXECUTED', result: { ref: 'F1' } },
        { id: 's-1-step-1', name: 'HOTEL', service_name: 'hotels', state: 'EXECUTING', result: null },
      ],
      current_step_index: 1,
      created_at: Date.parse('2026-12-04T10:00:00.000Z') / 1000,
      updated_at: Date.parse('2026-12-04T10:00:02.500Z') / 1000,
      status: 'Running',
      reason: null,
    });
  });

  it('given nothing started yet, then STARTED; given it compensated, then FAILED with the step states and sagaline’s own status and reason', () => {
    expect(fluxoraShape(trip, record('Running', { FLIGHT: { status: 'pending', attempts: 0 }, HOTEL: { status: 'pending', attempts: 0 } })).state).toBe('STARTED');
    const undone = fluxoraShape(trip, record('Compensated', { FLIGHT: { status: 'compensated', attempts: 1, result: { plain: true } }, HOTEL: { status: 'failed', attempts: 1, reason: 'full' } }, 'HOTEL failed: full'));
    expect(undone).toMatchObject({ state: 'FAILED', status: 'Compensated', reason: 'HOTEL failed: full', current_step_index: 1 });
    expect(undone.steps.map((s) => [s.state, s.result])).toEqual([['COMPENSATED', { plain: true }], ['FAILED', null]]);
    const done = fluxoraShape(trip, record('Completed', { FLIGHT: { status: 'succeeded', attempts: 1 }, HOTEL: { status: 'succeeded', attempts: 1 } }));
    expect(done).toMatchObject({ state: 'COMPLETED', current_step_index: 2 });
  });
});
