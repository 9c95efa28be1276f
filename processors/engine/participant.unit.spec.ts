import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { outboxSources } from '../../infra/provision-sagas.ts';
import { sagaContracts } from '../../schemas/saga-contracts.ts';
import { sagaTopic } from '../../topics/derived.ts';
import { defineSaga } from '../saga/define-saga.ts';
import { foldInstance } from '../saga/instance.ts';
import { nextDeadline, SAGAS_DATABASE } from './monitor.ts';
import { fail, ok, participant } from './participant.ts';

const saga = defineSaga({
  name: 'order-fulfilment',
  version: 1,
  startedBy: 'OrderPlaced',
  steps: {
    CHARGE: { owner: 'payments', succeeded: 'PaymentCharged', failed: 'PaymentDeclined', compensatedBy: 'PaymentRefunded', deadlineMs: 1_000 },
    HOLD_STOCK: { owner: 'warehouse', succeeded: 'StockReserved', failed: 'StockUnavailable', compensatedBy: 'StockReleased', deadlineMs: 5_000 },
    SHIP: { owner: 'shipping', after: ['CHARGE', 'HOLD_STOCK'], pivot: true, succeeded: 'OrderShipped', failed: 'ShipmentFailed' },
  },
});
const act = () => ok({});

describe('a participant', () => {
  it('given handlers for every owned step, then it is built, and ok/fail phrase the outcomes', () => {
    const p = participant(saga, 'payments', { database: 'payments', steps: { CHARGE: { act, compensate: act } } });
    expect(p).toMatchObject({ service: 'payments', database: 'payments', ddl: [] });
    expect(fail('declined')).toEqual({ outcome: 'failed', reason: 'declined', payload: { reason: 'declined' } });
    expect(ok({ id: 1 })).toEqual({ outcome: 'succeeded', payload: { id: 1 } });
  });

  it('given missing, extra or misplaced handlers, then one ConfigError lists each', () => {
    const build = () => participant(saga, 'payments', { database: 'Payments!', steps: { SHIP: { act }, REFUND: { act } } as never });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/database "Payments!"/);
    expect(build).toThrow(/step CHARGE: no act\(\) handler/);
    expect(build).toThrow(/step SHIP: owned by shipping, not payments/);
    expect(build).toThrow(/step REFUND: not a step of order-fulfilment/);
    expect(() => participant(saga, 'payments', { database: 'payments', steps: { CHARGE: { act } } })).toThrow(/no compensate\(\) handler, but the step is compensated by PaymentRefunded/);
    expect(() => participant(saga, 'shipping', { database: 'shipping', steps: { SHIP: { act, compensate: act } } })).toThrow(/has compensate\(\), but the definition gives it no compensation message/);
    expect(() => participant(saga, 'billing', { database: 'billing', steps: {} })).toThrow(/has no step owned by billing/);
  });
});

describe('what the engine derives from definitions', () => {
  it('given a saga, then its one topic carries its messages and the engine’s', () => {
    expect(sagaTopic(saga)).toMatchObject({ name: 'sagaline.order-fulfilment', aggregateType: 'order-fulfilment', partitions: 6 });
    expect(sagaTopic(saga).messages).toEqual(expect.arrayContaining(['OrderPlaced', 'PaymentRefunded', 'OrderShipped', 'StepTimedOut', 'CompensationFailed']));
  });

  it('given participants in their databases, then each outbox admits its sagas only and the engine’s admits all', () => {
    const payments = participant(saga, 'payments', { database: 'payments', steps: { CHARGE: { act, compensate: act } } });
    const warehouse = participant(saga, 'warehouse', { database: 'warehouse', steps: { HOLD_STOCK: { act, compensate: act } } });
    expect(outboxSources({ sagas: [saga], participants: [payments, warehouse] })).toEqual([
      { database: SAGAS_DATABASE, aggregateTypes: ['order-fulfilment'] },
      { database: 'payments', aggregateTypes: ['order-fulfilment'] },
      { database: 'warehouse', aggregateTypes: ['order-fulfilment'] },
    ]);
  });

  it('given schemas lacking a message of the definition, then the error names the message and the saga', () => {
    const contracts = { registry: {}, messages: new Map(), sources: new Map() };
    expect(() => sagaContracts(contracts, [saga])).toThrow(/saga order-fulfilment names message PaymentCharged, which has no schema/);
  });

  it('given running steps, then the next deadline is the earliest not yet fired', () => {
    const { state } = foldInstance(saga, [{ sagaId: 's', type: 'OrderPlaced', at: '2026-01-01T00:00:00.000Z' }]);
    expect(nextDeadline(saga, state)?.toISOString()).toBe('2026-01-01T00:00:01.000Z');
    expect(nextDeadline(saga, state, new Set(['CHARGE']))?.toISOString()).toBe('2026-01-01T00:00:05.000Z');
    expect(nextDeadline(saga, state, new Set(['CHARGE', 'HOLD_STOCK']))).toBeNull();
  });
});
