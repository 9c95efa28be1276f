import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { defineSaga } from '../saga/define-saga.ts';
import { evolveVersioned, UnknownVersionError, versionsOf } from './versions.ts';

const v1 = defineSaga({ name: 'booking', version: 1, startedBy: 'Requested', steps: { HOLD: { owner: 'rooms', succeeded: 'Held', failed: 'NoRoom' } } });
const v2 = defineSaga({ name: 'booking', startedBy: 'Requested', version: 2, steps: { HOLD: { owner: 'rooms', succeeded: 'Held', failed: 'NoRoom' }, MAIL: { owner: 'mail', after: ['HOLD'], succeeded: 'Mailed', failed: 'NotMailed' } } });
const versions = versionsOf([v2, v1], (d) => d);
const at = '2026-01-01T00:00:00Z';

describe('definition versions side by side', () => {
  it('given a SagaStarted for v1, when the start message follows, then the instance runs under v1 to its end though v2 is the latest', () => {
    const marked = evolveVersioned(versions, undefined, undefined, { sagaId: 's', type: 'SagaStarted', payload: { saga: 'booking', version: 1 }, at });
    expect(marked).toMatchObject({ version: 1, evolution: { state: undefined, commands: [] } });
    const started = evolveVersioned(versions, undefined, marked.version, { sagaId: 's', type: 'Requested', at });
    expect(started.evolution.state).toMatchObject({ version: 1, steps: { HOLD: { status: 'running' } } });
    expect(Object.keys(started.evolution.state!.steps)).toEqual(['HOLD']);
    const held = evolveVersioned(versions, started.evolution.state, undefined, { sagaId: 's', type: 'Held', at });
    expect(held.evolution.state?.status).toBe('Completed');
  });

  it('given a start message with no SagaStarted before it (another producer), then it runs under the latest version', () => {
    const started = evolveVersioned(versions, undefined, undefined, { sagaId: 's', type: 'Requested', at });
    expect(started.evolution.state?.version).toBe(2);
    expect(Object.keys(started.evolution.state!.steps)).toEqual(['HOLD', 'MAIL']);
  });

  it('given an instance of a version the runner was not given, then a typed error names it and the versions known', () => {
    const onlyV2 = versionsOf([v2], (d) => d);
    expect(() => evolveVersioned(onlyV2, undefined, 1, { sagaId: 's', type: 'Requested', at })).toThrow(UnknownVersionError);
    expect(() => evolveVersioned(onlyV2, undefined, 1, { sagaId: 's', type: 'Requested', at })).toThrow('saga booking v1 is not among the versions this runner was given (v2)');
  });

  it('given an instance of another saga under the same id, when a message of this saga is folded, then it is ignored, naming both, and the instance is untouched', () => {
    // Given: id "s" is an instance of another saga (what a producer reusing an id makes a runner find)
    const other = defineSaga({ name: 'parcel', version: 3, startedBy: 'Shipped', steps: { SEND: { owner: 'courier', succeeded: 'Sent', failed: 'Lost' } } });
    const theirs = evolveVersioned(versionsOf([other], (d) => d), undefined, undefined, { sagaId: 's', type: 'Shipped', at }).evolution.state!;
    // When
    const folded = evolveVersioned(versions, theirs, undefined, { sagaId: 's', type: 'Held', at });
    // Then
    expect(folded.evolution.state).toBe(theirs);
    expect(folded.evolution.commands).toEqual([]);
    expect(folded.evolution.ignored).toBe('s is an instance of parcel, not of booking: a saga id must be unique across sagas');
  });

  it('given the same version twice or two names, then a ConfigError', () => {
    expect(() => versionsOf([v1, defineSaga({ name: 'booking', version: 1, startedBy: 'Requested', steps: { HOLD: { owner: 'rooms', succeeded: 'Held', failed: 'NoRoom' } } })], (d) => d)).toThrow(ConfigError);
    expect(() => versionsOf([v1, defineSaga({ name: 'other', version: 1, startedBy: 'Requested', steps: { HOLD: { owner: 'rooms', succeeded: 'Held', failed: 'NoRoom' } } })], (d) => d)).toThrow(/share its name/);
    expect(versions.all.map((d) => d.version)).toEqual([1, 2]);
  });
});
