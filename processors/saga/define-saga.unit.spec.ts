import { describe, expect, it } from 'vitest';
import {
  compensationOrder,
  DEFAULT_RETRY_LIMIT,
  DEFAULT_STEP_DEADLINE_MS,
  defineSaga,
  isCompleted,
  roleOf,
  runnableSteps,
  SagaDefinitionError,
  type SagaSpec,
  type StepStatus,
} from './define-saga.ts';

/** A saga of no example: order → (payment ‖ stock) → ship (pivot) → notify. */
const orderSpec = (): SagaSpec => ({
  name: 'order-fulfilment',
  version: 1,
  startedBy: 'OrderPlaced',
  steps: {
    CHECK: { owner: 'orders', succeeded: 'OrderChecked', failed: 'OrderRejected', compensatedBy: 'OrderCancelled' },
    PAY: { owner: 'payments', after: ['CHECK'], succeeded: 'PaymentTaken', failed: 'PaymentDeclined', compensatedBy: 'PaymentRefunded', retry: { limit: 5 }, deadlineMs: 60_000 },
    HOLD_STOCK: { owner: 'stock', after: ['CHECK'], succeeded: 'StockReserved', failed: 'OutOfStock', compensatedBy: 'StockReleased' },
    SHIP: { owner: 'shipping', after: ['PAY', 'HOLD_STOCK'], pivot: true, succeeded: 'Shipped', failed: 'ShippingFailed', retry: { limit: 10 } },
    NOTIFY: { owner: 'notifications', after: ['SHIP'], succeeded: 'CustomerNotified', failed: 'NotifyFailed' },
  },
});

/** The problems a spec is refused with, as `code path`. */
function refusal(spec: SagaSpec, knownMessages?: string[]): string[] {
  try {
    defineSaga(spec, { knownMessages });
  } catch (err) {
    expect(err).toBeInstanceOf(SagaDefinitionError);
    expect((err as SagaDefinitionError).code).toBe('SAGA_DEFINITION_INVALID');
    return (err as SagaDefinitionError).problems.map((p) => `${p.code} ${p.path}`);
  }
  throw new Error('the definition was accepted');
}

describe('defineSaga', () => {
  it('builds a definition with steps in running order, defaults filled in, and every message given its meaning', () => {
    // Given a saga with a parallel pair that joins before the pivot
    const spec = orderSpec();
    // When it is defined
    const saga = defineSaga(spec);
    // Then its steps come each after what it waits on, defaults filled, the pivot and what follows it forward-only
    expect(saga.steps.map((s) => s.name)).toEqual(['CHECK', 'PAY', 'HOLD_STOCK', 'SHIP', 'NOTIFY']);
    expect(saga.steps.find((s) => s.name === 'HOLD_STOCK')).toMatchObject({ retryLimit: DEFAULT_RETRY_LIMIT, deadlineMs: DEFAULT_STEP_DEADLINE_MS, compensatedBy: 'StockReleased', forwardOnly: false });
    expect(saga.steps.find((s) => s.name === 'PAY')).toMatchObject({ retryLimit: 5, deadlineMs: 60_000 });
    expect(saga.steps.filter((s) => s.forwardOnly).map((s) => s.name)).toEqual(['SHIP', 'NOTIFY']);
    expect(saga.pivot).toBe('SHIP');
    expect(saga.services).toEqual(['orders', 'payments', 'stock', 'shipping', 'notifications']);
    expect(roleOf(saga, 'OrderPlaced')).toEqual({ kind: 'start' });
    expect(roleOf(saga, 'StockReleased')).toEqual({ kind: 'compensated', step: 'HOLD_STOCK' });
    expect(roleOf(saga, 'PaymentDeclined')).toEqual({ kind: 'failed', step: 'PAY' });
    expect(roleOf(saga, 'SomethingElse')).toBeUndefined();
  });

  it('orders steps by what they wait on, whatever order they are written in', () => {
    const spec = orderSpec();
    const { NOTIFY, SHIP, ...rest } = spec.steps;
    const saga = defineSaga({ ...spec, steps: { NOTIFY: NOTIFY!, SHIP: SHIP!, ...rest } });
    expect(saga.steps.map((s) => s.name)).toEqual(['CHECK', 'PAY', 'HOLD_STOCK', 'SHIP', 'NOTIFY']);
  });

  it('refuses a step waiting on a step that does not exist, naming the step and the known ones', () => {
    const spec = orderSpec();
    const err = (() => {
      try {
        defineSaga({ ...spec, steps: { ...spec.steps, SHIP: { ...spec.steps.SHIP!, after: ['PAY', 'RESERVED'] } } });
      } catch (e) {
        return e as SagaDefinitionError;
      }
      throw new Error('accepted');
    })();
    expect(err.problems).toEqual([{ code: 'UNKNOWN_STEP', path: 'steps.SHIP.after[1]', message: expect.stringContaining('"RESERVED"') }]);
    expect(err.message).toContain('saga definition "order-fulfilment" is invalid: steps.SHIP.after[1]: no step is named "RESERVED"; steps: CHECK, PAY, HOLD_STOCK, SHIP, NOTIFY');
  });

  it('refuses steps that wait on each other in a circle, and names the circle', () => {
    const spec = orderSpec();
    let message = '';
    try {
      defineSaga({ ...spec, steps: { ...spec.steps, CHECK: { ...spec.steps.CHECK!, after: ['PAY'] } } });
    } catch (err) {
      message = (err as Error).message;
      expect((err as SagaDefinitionError).problems.map((p) => p.code)).toContain('CYCLE');
    }
    expect(message).toMatch(/in a circle: (CHECK → PAY → CHECK|PAY → CHECK → PAY)/);
    expect(refusal({ ...spec, steps: { ...spec.steps, PAY: { ...spec.steps.PAY!, after: ['PAY'] } } })).toContain('CYCLE steps.PAY.after[0]');
  });

  it('refuses a message used twice, naming both places', () => {
    const spec = orderSpec();
    expect(refusal({ ...spec, steps: { ...spec.steps, HOLD_STOCK: { ...spec.steps.HOLD_STOCK!, failed: 'PaymentDeclined' } } })).toEqual(['MESSAGE_USED_TWICE steps.HOLD_STOCK.failed']);
    expect(refusal({ ...spec, steps: { ...spec.steps, CHECK: { ...spec.steps.CHECK!, succeeded: 'OrderPlaced' } } })).toEqual(['MESSAGE_USED_TWICE steps.CHECK.succeeded']);
  });

  it('refuses a message no schema defines, when the schemas are given', () => {
    const spec = orderSpec();
    const known = [...defineSaga(spec).messages.keys()].filter((m) => m !== 'StockReleased');
    expect(refusal(spec, known)).toEqual(['UNKNOWN_MESSAGE steps.HOLD_STOCK.compensatedBy']);
  });

  it('refuses a compensation on the pivot or after it, two pivots, and a step unordered against the pivot', () => {
    const spec = orderSpec();
    expect(refusal({ ...spec, steps: { ...spec.steps, SHIP: { ...spec.steps.SHIP!, compensatedBy: 'Returned' } } })).toEqual(['COMPENSATION_AFTER_PIVOT steps.SHIP.compensatedBy']);
    expect(refusal({ ...spec, steps: { ...spec.steps, NOTIFY: { ...spec.steps.NOTIFY!, compensatedBy: 'Unnotified' } } })).toEqual(['COMPENSATION_AFTER_PIVOT steps.NOTIFY.compensatedBy']);
    expect(refusal({ ...spec, steps: { ...spec.steps, NOTIFY: { ...spec.steps.NOTIFY!, pivot: true } } })).toEqual(['TWO_PIVOTS steps.NOTIFY.pivot']);
    // HOLD_STOCK no longer before SHIP: a failure of it could come after the point of no return
    expect(refusal({ ...spec, steps: { ...spec.steps, SHIP: { ...spec.steps.SHIP!, after: ['PAY'] } } })).toEqual(['PIVOT_UNORDERED steps.HOLD_STOCK.after']);
  });

  it('lists every problem at once, before anything runs', () => {
    const problems = refusal({
      name: 'Order Fulfilment',
      version: 0,
      startedBy: 'OrderPlaced',
      steps: { 'ship it': { owner: 'Shipping', succeeded: 'Shipped', failed: 'Shipped', retry: { limit: -1 }, deadlineMs: 0 } },
    });
    expect(problems).toEqual([
      'INVALID_NAME name',
      'INVALID_VERSION version',
      'INVALID_STEP steps.ship it',
      'INVALID_STEP steps.ship it.owner',
      'INVALID_STEP steps.ship it.retry.limit',
      'INVALID_STEP steps.ship it.deadlineMs',
      'MESSAGE_USED_TWICE steps.ship it.failed',
    ]);
    expect(refusal({ name: 'empty', version: 1, startedBy: 'Go', steps: {} })).toEqual(['NO_STEPS steps']);
  });
});

describe('scheduling rules', () => {
  const saga = defineSaga(orderSpec());
  const status = (s: Record<string, StepStatus>): Record<string, StepStatus> => s;

  it('runs the first steps on the start, both branches once their common step succeeded, and the join once both did', () => {
    expect(runnableSteps(saga, status({})).map((s) => s.name)).toEqual(['CHECK']);
    expect(runnableSteps(saga, status({ CHECK: 'succeeded' })).map((s) => s.name)).toEqual(['PAY', 'HOLD_STOCK']);
    expect(runnableSteps(saga, status({ CHECK: 'succeeded', PAY: 'succeeded', HOLD_STOCK: 'running' })).map((s) => s.name)).toEqual([]);
    expect(runnableSteps(saga, status({ CHECK: 'succeeded', PAY: 'succeeded', HOLD_STOCK: 'succeeded' })).map((s) => s.name)).toEqual(['SHIP']);
  });

  it('starts nothing more once a step before the pivot failed', () => {
    expect(runnableSteps(saga, status({ CHECK: 'succeeded', PAY: 'failed' }))).toEqual([]);
  });

  it('is completed only when every step succeeded', () => {
    const allButLast = status({ CHECK: 'succeeded', PAY: 'succeeded', HOLD_STOCK: 'succeeded', SHIP: 'succeeded' });
    expect(isCompleted(saga, allButLast)).toBe(false);
    expect(isCompleted(saga, { ...allButLast, NOTIFY: 'succeeded' })).toBe(true);
  });

  it("reads the same statuses from step states (an instance's steps) and from a lookup function", () => {
    // Given the statuses as a record, as step states and as a function
    const statuses = status({ CHECK: 'succeeded', PAY: 'succeeded', HOLD_STOCK: 'succeeded', SHIP: 'running' });
    const states = Object.fromEntries(Object.entries(statuses).map(([name, s]) => [name, { status: s, attempts: 1 }]));
    const lookup = (name: string) => statuses[name];
    // Then every form gives the same answers
    for (const form of [statuses, states, lookup]) {
      expect(runnableSteps(saga, form).map((s) => s.name)).toEqual([]);
      expect(isCompleted(saga, form)).toBe(false);
    }
    const done = { ...states, SHIP: { status: 'succeeded' as const }, NOTIFY: { status: 'succeeded' as const } };
    expect(isCompleted(saga, done)).toBe(true);
    expect(runnableSteps(saga, { ...states, SHIP: { status: 'succeeded' as const } }).map((s) => s.name)).toEqual(['NOTIFY']);
  });

  it('compensates what succeeded, the last to succeed first, and nothing from the pivot on', () => {
    // Given HOLD_STOCK finished before PAY, in parallel after CHECK
    expect(compensationOrder(saga, ['CHECK', 'HOLD_STOCK', 'PAY']).map((s) => s.name)).toEqual(['PAY', 'HOLD_STOCK', 'CHECK']);
    // And the other way round
    expect(compensationOrder(saga, ['CHECK', 'PAY', 'HOLD_STOCK']).map((s) => s.name)).toEqual(['HOLD_STOCK', 'PAY', 'CHECK']);
    // Forward-only steps are never in the plan
    expect(compensationOrder(saga, ['CHECK', 'PAY', 'HOLD_STOCK', 'SHIP']).map((s) => s.name)).toEqual(['HOLD_STOCK', 'PAY', 'CHECK']);
  });
});
