import { describe, expect, it } from 'vitest';
import { defineSaga } from './define-saga.ts';
import { evolveInstance, foldInstance, type InstanceState } from './instance.ts';
import { sagaSpecification } from './testing.ts';

/** No example's saga: check → (pay ‖ reserve stock) → ship (pivot) → notify. */
const saga = defineSaga({
  name: 'order-fulfilment',
  version: 1,
  startedBy: 'OrderPlaced',
  steps: {
    CHECK: { owner: 'orders', succeeded: 'OrderChecked', failed: 'OrderRejected', compensatedBy: 'OrderCancelled' },
    PAY: { owner: 'payments', after: ['CHECK'], succeeded: 'PaymentTaken', failed: 'PaymentDeclined', compensatedBy: 'PaymentRefunded' },
    HOLD_STOCK: { owner: 'stock', after: ['CHECK'], succeeded: 'StockReserved', failed: 'OutOfStock', compensatedBy: 'StockReleased' },
    SHIP: { owner: 'shipping', after: ['PAY', 'HOLD_STOCK'], pivot: true, succeeded: 'Shipped', failed: 'ShippingFailed' },
    NOTIFY: { owner: 'notifications', after: ['SHIP'], succeeded: 'CustomerNotified', failed: 'NotifyFailed' },
  },
});
const spec = () => sagaSpecification(saga);
const run = (step: string, owner: string) => ({ kind: 'run' as const, step, owner });
const undo = (step: string, owner: string) => ({ kind: 'compensate' as const, step, owner });
const checked = [{ type: 'OrderPlaced', payload: { orderId: 'o-1' } }, { type: 'OrderChecked' }];

describe('an instance of a defined saga', () => {
  it('starts its first step on the start message, and keeps the message', () => {
    const state = spec().given([]).when({ type: 'OrderPlaced', payload: { orderId: 'o-1' } }).then({ status: 'Running', commands: [run('CHECK', 'orders')], steps: { CHECK: { status: 'running' }, PAY: { status: 'pending' } } });
    expect(state?.start).toEqual({ type: 'OrderPlaced', payload: { orderId: 'o-1' } });
    expect(state).toMatchObject({ saga: 'order-fulfilment', version: 1 });
  });

  it('runs both branches at once after their common step, and the join only once both succeeded', () => {
    spec().given([checked[0]!]).when({ type: 'OrderChecked', payload: { ok: true } }).then({ commands: [run('PAY', 'payments'), run('HOLD_STOCK', 'stock')], steps: { CHECK: { status: 'succeeded', attempts: 1, result: { ok: true } } } });
    spec().given([...checked, { type: 'StockReserved' }]).when({ type: 'PaymentTaken' }).then({ status: 'Running', commands: [run('SHIP', 'shipping')] });
    spec().given([...checked]).when({ type: 'StockReserved' }).then({ status: 'Running', commands: [] });
  });

  it('given a failed attempt at a running step, then it changes nothing: the step still runs, its attempts as they were', () => {
    spec().given([...checked]).when({ type: 'StepAttemptFailed', step: 'PAY', reason: 'card service down' }).then({ status: 'Running', commands: [], ignored: true, steps: { PAY: { status: 'running', attempts: 0 } } });
  });

  it('completes when every step succeeded', () => {
    spec()
      .given([...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'Shipped' }])
      .when({ type: 'CustomerNotified' })
      .then({ status: 'Completed', commands: [] });
  });

  it('when a branch fails while its sibling still runs: waits for the sibling, then undoes it and the rest, last to succeed first', () => {
    // Given PAY declined while HOLD_STOCK is still running
    spec().given(checked).when({ type: 'PaymentDeclined', reason: 'card expired' }).then({ status: 'Compensating', commands: [], steps: { PAY: { status: 'failed', reason: 'card expired' } } });
    // When HOLD_STOCK succeeds after all, it is undone first, then CHECK
    spec().given([...checked, { type: 'PaymentDeclined' }]).when({ type: 'StockReserved' }).then({ status: 'Compensating', commands: [undo('HOLD_STOCK', 'stock')] });
    spec().given([...checked, { type: 'PaymentDeclined' }, { type: 'StockReserved' }]).when({ type: 'StockReleased' }).then({ commands: [undo('CHECK', 'orders')], steps: { HOLD_STOCK: { status: 'compensated' } } });
    spec().given([...checked, { type: 'PaymentDeclined' }, { type: 'StockReserved' }, { type: 'StockReleased' }]).when({ type: 'OrderCancelled' }).then({ status: 'Compensated', commands: [] });
  });

  it('a step that does not answer in time before the pivot is compensated like a failure', () => {
    spec().given([...checked, { type: 'StockReserved' }]).when({ type: 'StepTimedOut', step: 'PAY' }).then({ status: 'Compensating', commands: [undo('HOLD_STOCK', 'stock')], steps: { PAY: { status: 'failed', reason: 'PAY did not answer within 30000 ms' } } });
  });

  it('folds a history in order, giving the commands of its last message', () => {
    const history = [...checked, { type: 'StockReserved' }, { type: 'PaymentTaken' }].map((m, i) => ({ ...m, sagaId: 's-1', at: new Date(i * 1000).toISOString() }));
    const { state, commands } = foldInstance(saga, history);
    expect(commands).toEqual([run('SHIP', 'shipping')]);
    expect(state?.succeededInOrder).toEqual(['CHECK', 'HOLD_STOCK', 'PAY']);
  });

  it('after the pivot: a failure parks the saga, visibly, and compensates nothing', () => {
    spec()
      .given([...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'Shipped' }])
      .when({ type: 'NotifyFailed', reason: 'mail server down' })
      .then({ status: 'Parked', commands: [], steps: { NOTIFY: { status: 'failed', reason: 'mail server down' } } });
  });

  it('a compensation that fails leaves the saga Failed, naming the step', () => {
    const state = spec().given([...checked, { type: 'OutOfStock' }]).when({ type: 'PaymentTaken' }).then({ commands: [undo('PAY', 'payments')] });
    expect(state?.status).toBe('Compensating');
    const failed = spec().given([...checked, { type: 'OutOfStock' }, { type: 'PaymentTaken' }]).when({ type: 'CompensationFailed', step: 'PAY', reason: 'refund refused' }).then({ status: 'Failed' });
    expect(failed?.reason).toBe('compensation of PAY failed: refund refused');
  });

  it('changes nothing for a message twice, a late answer, an unknown message, or anything after the end', () => {
    spec().given(checked).when({ type: 'OrderChecked' }).then({ ignored: true, commands: [] });
    spec().given([...checked, { type: 'PaymentDeclined' }, { type: 'StockReserved' }]).when({ type: 'StockReserved' }).then({ ignored: true });
    spec().given(checked).when({ type: 'InvoiceSent' }).then({ ignored: true });
    spec().given([]).when({ type: 'OrderChecked' }).then({ ignored: true });
    spec().given([...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'Shipped' }, { type: 'CustomerNotified' }]).when({ type: 'StepTimedOut', step: 'NOTIFY' }).then({ ignored: true, status: 'Completed' });
  });
});

describe('the fold never changes the state it is given', () => {
  const deepFreeze = <T>(value: T): T => {
    if (value && typeof value === 'object' && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const v of Object.values(value)) deepFreeze(v);
    }
    return value;
  };
  // Every path that builds a new state: success, failure, timeout, compensation, a failed compensation, a late success, parking.
  const histories: Record<string, { type: string; step?: string; reason?: string; payload?: unknown }[]> = {
    completed: [...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'Shipped' }, { type: 'CustomerNotified' }],
    compensated: [...checked, { type: 'StockReserved' }, { type: 'PaymentDeclined', reason: 'no funds' }, { type: 'StockReleased' }, { type: 'OrderCancelled' }],
    failedCompensation: [...checked, { type: 'StockReserved' }, { type: 'StepTimedOut', step: 'PAY' }, { type: 'CompensationFailed', step: 'HOLD_STOCK', reason: 'warehouse gone' }],
    lateSuccess: [...checked, { type: 'StockReserved' }, { type: 'StepTimedOut', step: 'PAY' }, { type: 'StockReleased' }, { type: 'OrderCancelled' }, { type: 'PaymentTaken' }, { type: 'PaymentRefunded' }],
    parkedThenMovedOn: [...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'StepTimedOut', step: 'SHIP' }, { type: 'Shipped' }, { type: 'NotifyFailed' }],
  };
  for (const [name, history] of Object.entries(histories)) {
    it(`given each state of the ${name} history frozen, when the next message is folded, then the frozen state is as it was`, () => {
      let state: InstanceState | undefined;
      history.forEach((m, i) => {
        const before = JSON.stringify(state);
        const evolution = evolveInstance(saga, state === undefined ? undefined : deepFreeze(state), { sagaId: 's-1', at: `2026-01-01T00:00:0${i}.000Z`, ...m });
        expect(JSON.stringify(state)).toBe(before);
        expect(evolution.ignored, `${m.type} was ignored`).toBeUndefined();
        state = evolution.state;
      });
      expect(state?.status).toBe({ completed: 'Completed', compensated: 'Compensated', failedCompensation: 'Failed', lateSuccess: 'Compensated', parkedThenMovedOn: 'Parked' }[name]);
    });
  }
});

describe('the test kit', () => {
  it('fails, naming each difference, when the saga does not do what is expected', () => {
    expect(() => spec().given(checked).when({ type: 'PaymentDeclined' }).then({ status: 'Completed', commands: [run('SHIP', 'shipping')] })).toThrow(
      'order-fulfilment: when PaymentDeclined: status: expected Completed, got Compensating; commands: expected [{"kind":"run","step":"SHIP","owner":"shipping"}], got []',
    );
    expect(() => spec().given(checked).when({ type: 'OrderChecked' }).then({ ignored: false })).toThrow('expected OrderChecked to be applied, but: CHECK is succeeded, not waiting for OrderChecked');
  });
  describe('a success after the step timed out', () => {
    const timedOut = [...checked, { type: 'StockReserved' }, { type: 'StepTimedOut', step: 'PAY' }];
    it('given the saga still compensates, then the late step is undone too, before the earlier ones', () => {
      spec().given(timedOut).when({ type: 'PaymentTaken' }).then({ status: 'Compensating', commands: [], steps: { PAY: { status: 'succeeded', reason: 'succeeded after its deadline' }, HOLD_STOCK: { status: 'compensating' } } });
      spec().given([...timedOut, { type: 'PaymentTaken' }]).when({ type: 'StockReleased' }).then({ status: 'Compensating', commands: [undo('PAY', 'payments')] });
    });
    it('given the saga has ended Compensated, then the late step is undone and the saga stays Compensated', () => {
      const compensated = [...timedOut, { type: 'StockReleased' }, { type: 'OrderCancelled' }];
      spec().given(compensated).when({ type: 'PaymentTaken' }).then({ status: 'Compensated', commands: [undo('PAY', 'payments')], steps: { PAY: { status: 'compensating' } } });
      spec().given([...compensated, { type: 'PaymentTaken' }]).when({ type: 'PaymentRefunded' }).then({ status: 'Compensated', commands: [], steps: { PAY: { status: 'compensated' } } });
    });
    it('given a step after the pivot timed out and parked the saga, then its late success moves the saga on', () => {
      const parked = [...checked, { type: 'PaymentTaken' }, { type: 'StockReserved' }, { type: 'StepTimedOut', step: 'SHIP' }];
      spec().given(parked.slice(0, -1)).when(parked.at(-1)!).then({ status: 'Parked' });
      spec().given(parked).when({ type: 'Shipped' }).then({ status: 'Running', commands: [run('NOTIFY', 'notifications')] });
    });
    it('given an ended saga, then a second late answer or any other message changes nothing', () => {
      const compensated = [...timedOut, { type: 'StockReleased' }, { type: 'OrderCancelled' }, { type: 'PaymentTaken' }, { type: 'PaymentRefunded' }];
      spec().given(compensated).when({ type: 'PaymentTaken' }).then({ ignored: true, status: 'Compensated' });
      spec().given(compensated).when({ type: 'StockReserved' }).then({ ignored: true, status: 'Compensated' });
    });
  });

  describe('operator actions', () => {
    const by = { by: 'ops', reason: 'customer asked' };

    it('given a running saga with a branch still running, when it is cancelled, then nothing new starts, the running branch is waited for, and everything that ran is undone', () => {
      // Given CHECK and HOLD_STOCK succeeded, PAY still running
      const cancelled = spec().given([...checked, { type: 'StockReserved' }]).when({ type: 'SagaCancelRequested', payload: by }).then({ status: 'Compensating', commands: [] });
      expect(cancelled?.reason).toBe('cancelled by ops: customer asked');
      // When PAY answers, it is undone too, then the rest, last to succeed first
      spec().given([...checked, { type: 'StockReserved' }, { type: 'SagaCancelRequested', payload: by }]).when({ type: 'PaymentTaken' }).then({ status: 'Compensating', commands: [undo('PAY', 'payments')], steps: { SHIP: { status: 'pending' } } });
      spec()
        .given([...checked, { type: 'StockReserved' }, { type: 'SagaCancelRequested', payload: by }, { type: 'PaymentTaken' }, { type: 'PaymentRefunded' }, { type: 'StockReleased' }])
        .when({ type: 'OrderCancelled' })
        .then({ status: 'Compensated', commands: [], steps: { CHECK: { status: 'compensated' }, PAY: { status: 'compensated' }, HOLD_STOCK: { status: 'compensated' }, SHIP: { status: 'pending' } } });
    });

    it('given the pivot has started, or the saga has ended, or it compensates already, when it is cancelled, then nothing changes and the reason names why', () => {
      const toPivot = [...checked, { type: 'StockReserved' }, { type: 'PaymentTaken' }];
      spec().given(toPivot).when({ type: 'SagaCancelRequested', payload: by }).then({ status: 'Running', commands: [], ignored: true });
      const pastPivot = evolveInstance(saga, foldInstance(saga, toPivot.map((m, i) => ({ ...m, sagaId: 's', at: new Date(i * 1000).toISOString() }))).state, { sagaId: 's', type: 'SagaCancelRequested', payload: by, at: new Date(99_000).toISOString() });
      expect(pastPivot.ignored).toBe('s is past its pivot (SHIP: SHIP is running): what it did cannot be undone');
      spec().given([...toPivot, { type: 'Shipped' }, { type: 'CustomerNotified' }]).when({ type: 'SagaCancelRequested', payload: by }).then({ status: 'Completed', ignored: true });
      spec().given([...checked, { type: 'OutOfStock' }]).when({ type: 'SagaCancelRequested', payload: by }).then({ status: 'Compensating', ignored: true });
    });

    it('given a Failed saga whose undoing of a step failed, when its compensation is retried, then that step is undone again and the saga goes on to Compensated', () => {
      // Given PAY's refund failed while undoing after HOLD_STOCK ran out
      const failed = [...checked, { type: 'OutOfStock' }, { type: 'PaymentTaken' }, { type: 'CompensationFailed', step: 'PAY', reason: 'refund refused' }];
      // When
      const retried = spec().given(failed).when({ type: 'CompensationRetryRequested', payload: by }).then({ status: 'Compensating', commands: [undo('PAY', 'payments')], steps: { PAY: { status: 'compensating' } } });
      // Then
      expect(retried?.reason).toBe('compensation retried by ops: customer asked');
      expect(retried?.endedAt).toBeUndefined();
      spec().given([...failed, { type: 'CompensationRetryRequested', payload: by }, { type: 'PaymentRefunded' }]).when({ type: 'OrderCancelled' }).then({ status: 'Compensated', steps: { PAY: { status: 'compensated' }, CHECK: { status: 'compensated' } } });
    });

    it('given a saga that is not Failed, when its compensation is retried, then nothing changes', () => {
      spec().given(checked).when({ type: 'CompensationRetryRequested', payload: by }).then({ status: 'Running', ignored: true });
      spec().given([...checked, { type: 'PaymentDeclined' }, { type: 'StockReserved' }, { type: 'StockReleased' }, { type: 'OrderCancelled' }]).when({ type: 'CompensationRetryRequested', payload: by }).then({ status: 'Compensated', ignored: true });
    });
  });
});
