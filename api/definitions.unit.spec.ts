import { describe, expect, it } from 'vitest';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { describeDefinition } from './definitions.ts';

describe('a definition as the API shows it', () => {
  it('given two steps that run at once, a pivot after both and a last step, then levels 0, 0, 1, 2 and the pivot named', () => {
    // Given
    const saga = defineSaga({
      name: 'order',
      version: 2,
      startedBy: 'OrderPlaced',
      steps: {
        CHARGE: { owner: 'payments', succeeded: 'Charged', failed: 'ChargeFailed', compensatedBy: 'Refunded' },
        HOLD: { owner: 'warehouse', succeeded: 'Reserved', failed: 'ReserveFailed', compensatedBy: 'Released', deadlineMs: 5_000 },
        SHIP: { owner: 'shipping', after: ['CHARGE', 'HOLD'], pivot: true, succeeded: 'Shipped', failed: 'ShipFailed', retry: { limit: 5 } },
        CONFIRM: { owner: 'shipping', after: ['SHIP'], succeeded: 'Confirmed', failed: 'ConfirmFailed' },
      },
    });

    // When
    const view = describeDefinition(saga);

    // Then
    expect(view).toMatchObject({ name: 'order', version: 2, startedBy: 'OrderPlaced', pivot: 'SHIP', services: ['payments', 'warehouse', 'shipping'], perInstance: false });
    expect(view.steps.map((s) => [s.name, s.level, s.after, s.forwardOnly, s.compensatedBy])).toEqual([
      ['CHARGE', 0, [], false, 'Refunded'],
      ['HOLD', 0, [], false, 'Released'],
      ['SHIP', 1, ['CHARGE', 'HOLD'], true, null],
      ['CONFIRM', 2, ['SHIP'], true, null],
    ]);
    expect(view.steps[1]).toMatchObject({ owner: 'warehouse', deadlineMs: 5_000, retryLimit: 3 });
    expect(view.steps[2]).toMatchObject({ pivot: true, retryLimit: 5 });
  });
});
