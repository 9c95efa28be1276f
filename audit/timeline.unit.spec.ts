import { describe, expect, it } from 'vitest';
import { versionsOf } from '../processors/engine/versions.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { compareStates, foldLog } from './fold.ts';
import { causalOrder, emitterOf, timelineOf } from './timeline.ts';

const saga = defineSaga({
  name: 'parcel',
  version: 1,
  startedBy: 'ParcelBooked',
  steps: {
    PICK: { owner: 'depot', succeeded: 'Picked', failed: 'NotPicked', compensatedBy: 'Restocked' },
    LABEL: { owner: 'labels', after: ['PICK'], succeeded: 'Labelled', failed: 'NotLabelled', compensatedBy: 'LabelVoided' },
    SEND: { owner: 'courier', after: ['LABEL'], succeeded: 'Sent', failed: 'NotSent' },
  },
});
const versions = versionsOf([saga], (d) => d);
const SAGA = 'saga-1';
let offset = 0;
function msg(type: string, id: string, cause: string, at: number, payload: Record<string, unknown> = {}): DecodedMessage {
  return {
    type,
    payload,
    metadata: { messageId: id, sagaId: SAGA, tenantId: 't1', correlationId: SAGA, causationId: cause, traceparent: '' },
    kafka: { topic: 'sagaline.parcel', partition: 2, offset: String(offset++), timestamp: at, key: SAGA },
  };
}

/** An instance whose LABEL fails after PICK succeeded, and is compensated: what the participants write. */
function compensated(): DecodedMessage[] {
  return [
    msg('SagaStarted', 'ver', SAGA, 999, { saga: 'parcel', version: 1 }),
    msg('ParcelBooked', 'req', SAGA, 1_000),
    msg('Picked', 'pick', 'req', 1_010),
    msg('NotLabelled', 'nolabel', 'pick', 1_020, { reason: 'printer jammed' }),
    msg('Restocked', 'restock', 'nolabel', 1_030),
  ];
}

describe('audit timeline', () => {
  it('given messages read in any order, when ordered, then each comes after its cause, the same way every time', () => {
    const messages = compensated();
    for (let seed = 0; seed < 50; seed++) {
      const shuffled = [...messages].sort((a, b) => ((a.metadata.messageId.charCodeAt(1) * (seed + 7)) % 13) - ((b.metadata.messageId.charCodeAt(1) * (seed + 7)) % 13));
      expect(causalOrder(shuffled).map((m) => m.metadata.messageId)).toEqual(['ver', 'req', 'pick', 'nolabel', 'restock']);
    }
  });

  it('given a cause stamped later than its effect (clocks of two brokers), then causation still wins', () => {
    const [, req, picked] = compensated() as [DecodedMessage, DecodedMessage, DecodedMessage];
    const skewed = { ...picked, kafka: { ...picked.kafka, timestamp: 500 } };
    expect(causalOrder([skewed, req]).map((m) => m.type)).toEqual(['ParcelBooked', 'Picked']);
  });

  it('given a message delivered twice, then both copies are shown and the state counts it once', () => {
    const messages = compensated();
    const again = { ...(messages[2] as DecodedMessage), kafka: { ...(messages[2] as DecodedMessage).kafka, offset: '99', timestamp: 1_070 } };
    const timeline = timelineOf(versions, SAGA, [...messages, again]);
    expect(timeline.events.filter((e) => e.messageId === 'pick')).toHaveLength(2);
    expect(timeline.state).toEqual(timelineOf(versions, SAGA, messages).state);
  });

  it('given a compensated instance, then its final state, its version and who emitted each message', () => {
    const timeline = timelineOf(versions, SAGA, compensated());
    expect(timeline).toMatchObject({ saga: 'parcel', version: 1 });
    expect(timeline.state?.status).toBe('Compensated');
    expect(timeline.state?.steps.PICK?.status).toBe('compensated');
    expect(timeline.events.map((e) => e.service)).toEqual(['requester', 'requester', 'depot', 'labels', 'depot']);
  });

  it('given engine messages, then a deadline is the monitor’s and a failed compensation its step owner’s', () => {
    expect(emitterOf(saga, 'StepTimedOut', { step: 'LABEL' })).toBe('saga-monitor');
    expect(emitterOf(saga, 'CompensationFailed', { step: 'PICK' })).toBe('depot');
    expect(emitterOf(saga, 'Sent', {})).toBe('courier');
  });
});

describe('folding a log and comparing', () => {
  it('given two instances interleaved, then each folds on its own and equal folds compare equal', () => {
    const other = compensated().map((m) => ({ ...m, metadata: { ...m.metadata, sagaId: 'saga-2', messageId: `${m.metadata.messageId}-2` } }));
    const folded = foldLog(versions, [...compensated(), ...other]);
    expect([...folded.keys()].sort()).toEqual(['saga-1', 'saga-2']);
    const states = (m: typeof folded) => new Map([...m].map(([id, f]) => [id, { status: f.state?.status, steps: f.state?.steps }]));
    expect(compareStates(states(folded), states(foldLog(versions, [...other, ...compensated()])), 'a', 'b')).toEqual([]);
  });

  it('given one side missing an instance and another differing, then both are named with the path that differs', () => {
    const left = new Map<string, unknown>([['s1', { status: 'Completed', steps: { A: 'succeeded' } }], ['s2', { status: 'Running' }]]);
    const right = new Map<string, unknown>([['s1', { status: 'Completed', steps: { A: 'failed' } }]]);
    expect(compareStates(left, right, 'live', 'rebuilt')).toEqual([
      { sagaId: 's1', differences: ['steps.A: "succeeded" ≠ "failed"'] },
      { sagaId: 's2', differences: ['missing in rebuilt'] },
    ]);
  });

  it('given lists of objects whose keys come in another order (as jsonb returns them), then they compare equal; a differing element is named by its index', () => {
    const left = new Map<string, unknown>([['s1', { start: { steps: [{ name: 'A', service: 'x' }, { name: 'B', service: 'y' }] } }]]);
    const same = new Map<string, unknown>([['s1', { start: { steps: [{ service: 'x', name: 'A' }, { service: 'y', name: 'B' }] } }]]);
    const other = new Map<string, unknown>([['s1', { start: { steps: [{ service: 'x', name: 'A' }, { service: 'z', name: 'B' }] } }]]);
    expect(compareStates(left, same, 'live', 'rebuilt')).toEqual([]);
    expect(compareStates(left, other, 'live', 'rebuilt')).toEqual([{ sagaId: 's1', differences: ['start.steps[1].service: "y" ≠ "z"'] }]);
  });
});
