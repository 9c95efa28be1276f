import { describe, expect, it } from 'vitest';
import type { DecodedMessage } from '../runtime/decode.ts';
import { instanceMessage } from './tables.ts';

const at = (timestamp: number, payload: unknown = {}): DecodedMessage =>
  ({
    type: 'StepDone',
    payload,
    metadata: { messageId: `m-${timestamp}`, sagaId: 's-1', tenantId: '', correlationId: '', causationId: '', traceparent: '' },
    kafka: { topic: 't', partition: 0, offset: '0', timestamp, key: 's-1' },
  }) as DecodedMessage;

describe('a decoded record as the fold reads it', () => {
  it('carries the record time of each message, whether or not the one before had the same', () => {
    // Given records of two instants, the first one again after the second
    const times = [1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_000, 0];
    // When each is read for the fold
    const read = times.map((t) => instanceMessage(at(t)).at);
    // Then each has its own time, formatted as ISO 8601
    expect(read).toEqual(times.map((t) => new Date(t).toISOString()));
  });

  it('takes the step and the reason from the payload only when they are strings', () => {
    expect(instanceMessage(at(1, { step: 'PAY', reason: 'declined' }))).toMatchObject({ sagaId: 's-1', type: 'StepDone', step: 'PAY', reason: 'declined' });
    const m = instanceMessage(at(1, { step: 3, reason: null }));
    expect('step' in m || 'reason' in m).toBe(false);
  });
});
