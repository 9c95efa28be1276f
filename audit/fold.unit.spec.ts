import { describe, expect, it } from 'vitest';
import { versionsOf } from '../processors/engine/versions.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { byId, foldIntoSaga, type FoldedBySaga } from './fold.ts';

const step = { owner: 'depot', succeeded: 'Picked', failed: 'NotPicked' };
const parcel = versionsOf([defineSaga({ name: 'parcel', version: 1, startedBy: 'ParcelBooked', steps: { PICK: step } })], (d) => d);
const letter = versionsOf([defineSaga({ name: 'letter', version: 1, startedBy: 'LetterPosted', steps: { SORT: { owner: 'sorting', succeeded: 'Sorted', failed: 'NotSorted' } } })], (d) => d);
let n = 0;
const msg = (topic: string, type: string, sagaId: string): DecodedMessage => ({
  type,
  payload: {},
  metadata: { messageId: `m-${n++}`, sagaId, tenantId: 't', correlationId: sagaId, causationId: sagaId, traceparent: '' },
  kafka: { topic, partition: 0, offset: String(n), timestamp: 1_700_000_000_000 + n, key: sagaId },
});

describe('folding a log of several sagas', () => {
  it('given one id used by instances of two sagas, when folded in either order, then both are folded whole and the id is reported, naming both sagas', () => {
    // Given
    const parcelMessages = [msg('sagaline.parcel', 'ParcelBooked', 'x'), msg('sagaline.parcel', 'Picked', 'x'), msg('sagaline.parcel', 'ParcelBooked', 'p')];
    const letterMessages = [msg('sagaline.letter', 'LetterPosted', 'x')];
    for (const order of [
      [...parcelMessages.map((m) => [parcel, m] as const), ...letterMessages.map((m) => [letter, m] as const)],
      [...letterMessages.map((m) => [letter, m] as const), ...parcelMessages.map((m) => [parcel, m] as const)],
    ]) {
      // When
      const folded: FoldedBySaga = new Map();
      const seen = new Set<string>();
      for (const [versions, m] of order) foldIntoSaga(versions, folded, seen, m);
      // Then
      expect(folded.get('parcel')?.get('x')?.state?.status).toBe('Completed');
      expect(folded.get('letter')?.get('x')?.state?.status).toBe('Running');
      const { instances, shared } = byId(folded);
      expect([...instances.keys()]).toEqual(['p']);
      expect(shared).toEqual([{ sagaId: 'x', differences: ['the log holds instances of letter and parcel under this id (a saga id must be unique across sagas)'] }]);
    }
  });
});
