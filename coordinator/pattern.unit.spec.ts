import { describe, expect, it } from 'vitest';
import { choosePattern, TWO_PHASE_MAX_DURATION_MS, TWO_PHASE_MAX_PARTICIPANTS } from './pattern.ts';

describe('choosing between two-phase commit, saga and reconciliation', () => {
  it('strong, short and at most 4 participants → two-phase commit', () => {
    // Given the design's example: a model version updated in two services, in milliseconds
    const choice = choosePattern({ consistency: 'strong', durationMs: 200, participants: 2 });
    // Then
    expect(choice.pattern).toBe('two-phase-commit');
    expect(choice.reasons.join(' ')).toMatch(/atomically/);
  });

  it('takes the limits themselves as still fitting', () => {
    expect(choosePattern({ consistency: 'strong', durationMs: TWO_PHASE_MAX_DURATION_MS, participants: TWO_PHASE_MAX_PARTICIPANTS }).pattern).toBe('two-phase-commit');
  });

  it('eventual consistency acceptable → saga, whatever the length or participants', () => {
    for (const [durationMs, participants] of [[10, 1], [3_600_000, 4], [50, 12]] as const) {
      expect(choosePattern({ consistency: 'eventual', durationMs, participants }).pattern).toBe('saga');
    }
  });

  it('strong but long or with many participants → reconciliation, naming each reason', () => {
    // When too long
    const long = choosePattern({ consistency: 'strong', durationMs: TWO_PHASE_MAX_DURATION_MS + 1, participants: 2 });
    expect(long.pattern).toBe('reconciliation');
    expect(long.reasons.join('\n')).toMatch(/long/);
    // When too many participants
    const many = choosePattern({ consistency: 'strong', durationMs: 100, participants: TWO_PHASE_MAX_PARTICIPANTS + 1 });
    expect(many.pattern).toBe('reconciliation');
    expect(many.reasons.join('\n')).toMatch(/5 participants > 4/);
    // When both
    expect(choosePattern({ consistency: 'strong', durationMs: 60_000, participants: 9 }).reasons).toHaveLength(4);
  });

  it('refuses inputs that mean nothing', () => {
    expect(() => choosePattern({ consistency: 'strict' as never, durationMs: 1, participants: 1 })).toThrow(/consistency/);
    expect(() => choosePattern({ consistency: 'strong', durationMs: -1, participants: 1 })).toThrow(/duration/);
    expect(() => choosePattern({ consistency: 'strong', durationMs: 1, participants: 0 })).toThrow(/participants/);
    expect(() => choosePattern({ consistency: 'strong', durationMs: 1, participants: 1.5 })).toThrow(/participants/);
  });
});
