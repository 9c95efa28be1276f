import { describe, expect, it } from 'vitest';
import { evolveVersioned, versionsOf } from './versions.ts';
import { parsePostedSaga, PostedSagaError, postedSagas, type PostedSagaRequest } from './posted-sagas.ts';
import type { InstanceMessage, InstanceState } from '../saga/instance.ts';

/** Fluxora's shape: reserve, then charge ‖ notify (a parallel group), then ship (no compensation). */
const fluxora = {
  name: 'order-processing',
  steps: [
    { service_name: 'inventory', action_endpoint: '/reserve', compensation_endpoint: '/release', payload: { sku: 'A', qty: 2 } },
    [
      { service_name: 'payments', action_endpoint: '/charge', compensation_endpoint: '/refund', payload: { amount: 10 } },
      { service_name: 'mailer', action_endpoint: 'http://127.0.0.1:9/mail', compensation_endpoint: '/unmail', payload: null },
    ],
    { service_name: 'shipping', action_endpoint: '/ship', compensation_endpoint: null, payload: { to: 'x' }, retry_limit: 5, deadline_ms: 1000 },
  ],
};

const versions = versionsOf([postedSagas], (d) => d);
let at = 0;
function fold(messages: { type: string; payload?: unknown; step?: string; reason?: string }[]) {
  let state: InstanceState | undefined;
  let last;
  for (const m of messages) {
    const message: InstanceMessage = { sagaId: 's-1', at: new Date(1_700_000_000_000 + at++ * 1000).toISOString(), ...m };
    last = evolveVersioned(versions, state, undefined, message);
    state = last.evolution.state;
  }
  return last!;
}
const ok = (step: string) => ({ type: 'PostedStepSucceeded', step, payload: { step, status: 200, body: '{}', attempt: 1 } });
const refused = (step: string) => ({ type: 'PostedStepFailed', step, reason: 'no', payload: { step, reason: 'no', status: 409, body: '' } });
const undone = (step: string) => ({ type: 'PostedStepCompensated', step, payload: { step, status: 200, body: '{}', attempt: 1 } });

describe('a posted saga', () => {
  it('given Fluxora\'s shape with a parallel group, then its steps are named by position and each item runs after the one before', () => {
    const request = parsePostedSaga(fluxora);
    expect(request.steps.map((s) => [s.name, s.service, s.after, s.compensation])).toEqual([
      ['step_0', 'inventory', [], '/release'],
      ['step_1', 'payments', ['step_0'], '/refund'],
      ['step_2', 'mailer', ['step_0'], '/unmail'],
      ['step_3', 'shipping', ['step_1', 'step_2'], null],
    ]);
    expect(request.steps[3]).toMatchObject({ retryLimit: 5, deadlineMs: 1000, payload: '{"to":"x"}' });
    expect(request.steps[2]?.payload).toBe('null');
  });

  it('given the typed shape, then steps keep their names, their `after` and a pivot', () => {
    const request = parsePostedSaga({
      name: 'trip',
      steps: {
        FLIGHT: { service: 'flights', action: '/book', compensation: '/cancel', payload: { from: 'A' } },
        HOTEL: { service: 'hotels', action: '/book', compensation: '/cancel' },
        PAY: { service: 'payments', action: '/pay', after: ['FLIGHT', 'HOTEL'], pivot: true },
      },
    });
    expect(request.steps.map((s) => [s.name, s.after, s.pivot, s.compensation])).toEqual([
      ['FLIGHT', [], false, '/cancel'],
      ['HOTEL', [], false, '/cancel'],
      ['PAY', ['FLIGHT', 'HOTEL'], true, null],
    ]);
  });

  it.each([
    [{ steps: [] }, 'name: expected a non-empty string'],
    [{ name: 'x', steps: [] }, 'steps: a saga needs at least one step'],
    [{ name: 'x', steps: 'all' }, 'steps: expected a list of steps'],
    [{ name: 'x', steps: [{ service_name: 'a', compensation_endpoint: null, payload: {} }] }, 'steps[0].action_endpoint: expected a path starting with /'],
    [{ name: 'x', steps: [{ service_name: 'a', action_endpoint: '/a', payload: {} }] }, 'steps[0].compensation_endpoint: missing'],
    [{ name: 'x', steps: [{ service_name: 'Bad Name', action_endpoint: '/a', compensation_endpoint: null }] }, 'steps[0].service_name: expected a service name'],
    [{ name: 'x', steps: [[]] }, 'steps[0]: a parallel group needs at least one step'],
    [{ name: 'x', steps: { A: { service: 'a', action: '/a', after: ['B'] } } }, 'steps.A.after[0]: no step is named "B"'],
    [{ name: 'x', steps: { A: { service: 'a', action: '/a', after: ['B'] }, B: { service: 'b', action: '/b', after: ['A'] } } }, 'wait on each other in a circle'],
    [{ name: 'x', steps: [{ service_name: 'a', action_endpoint: '/a', compensation_endpoint: null, retry_limit: -1 }] }, 'steps[0].retry_limit: expected a whole number from 0'],
  ])('given %j, then it is refused naming the problem', (body, expected) => {
    expect(() => parsePostedSaga(body)).toThrow(PostedSagaError);
    expect(() => parsePostedSaga(body)).toThrow(expected);
  });

  it('given a start, then it runs the first step; after it, both branches at once; after both, the last', () => {
    const request: PostedSagaRequest = parsePostedSaga(fluxora);
    const start = { type: 'PostedSagaRequested', payload: request };
    expect(fold([start]).evolution.commands).toEqual([{ kind: 'run', step: 'step_0', owner: 'inventory' }]);
    expect(fold([start, ok('step_0')]).evolution.commands.map((c) => c.step)).toEqual(['step_1', 'step_2']);
    expect(fold([start, ok('step_0'), ok('step_1')]).evolution.commands).toEqual([]);
    const done = fold([start, ok('step_0'), ok('step_1'), ok('step_2'), ok('step_3')]);
    expect(done.evolution.state?.status).toBe('Completed');
    expect(done.definition?.steps.map((s) => s.owner)).toEqual(['inventory', 'payments', 'mailer', 'shipping']);
  });

  it('given one branch failed, then the other is undone once it answers, then the first step, and the saga ends Compensated', () => {
    const start = { type: 'PostedSagaRequested', payload: parsePostedSaga(fluxora) };
    const failed = [start, ok('step_0'), refused('step_1')];
    expect(fold(failed).evolution.state?.status).toBe('Compensating');
    expect(fold([...failed, ok('step_2')]).evolution.commands).toEqual([{ kind: 'compensate', step: 'step_2', owner: 'mailer' }]);
    expect(fold([...failed, ok('step_2'), undone('step_2')]).evolution.commands).toEqual([{ kind: 'compensate', step: 'step_0', owner: 'inventory' }]);
    expect(fold([...failed, ok('step_2'), undone('step_2'), undone('step_0')]).evolution.state?.status).toBe('Compensated');
  });

  it('given a step message naming a step the saga does not have, then it changes nothing', () => {
    const start = { type: 'PostedSagaRequested', payload: parsePostedSaga(fluxora) };
    const r = fold([start, ok('step_9')]);
    expect(r.evolution.ignored).toContain('not a message of posted-sagas');
    expect(r.evolution.state?.steps.step_0?.status).toBe('running');
  });

  it('given a start message that describes no valid saga (written by another producer), then the instance is not started, with the reason', () => {
    const r = fold([{ type: 'PostedSagaRequested', payload: { format: 1, name: 'x', steps: [] } }]);
    expect(r.evolution.state).toBeUndefined();
    expect(r.evolution.ignored).toContain('describes no saga that can run');
  });
});
