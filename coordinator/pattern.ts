/**
 * Choosing between the two patterns for a distributed operation, as a rule (docs/two-phase-commit.md):
 *
 * - strong consistency needed, the operation is short and touches at most 4 participants →
 *   two-phase commit: every database changes atomically, at the price of locks held across the
 *   participants for the operation's length and of blocking while the coordinator is down;
 * - eventual consistency acceptable → saga: local transactions with compensations, no locks held
 *   across services, any length;
 * - strong consistency needed but too long or too many participants for 2PC's locks → neither
 *   holds: eventual-consistency reconciliation (apply locally, detect and repair divergence).
 */
import { SagalineError } from '../core/errors.ts';

export type Consistency = 'strong' | 'eventual';
export type Pattern = 'two-phase-commit' | 'saga' | 'reconciliation';

/** Longest operation for which holding locks in every participant is acceptable. */
export const TWO_PHASE_MAX_DURATION_MS = 1_000;
/** Most participants 2PC takes: each one more is one more party that can block everyone else. */
export const TWO_PHASE_MAX_PARTICIPANTS = 4;

export interface PatternInput {
  consistency: Consistency;
  /** Expected duration of the whole operation. */
  durationMs: number;
  participants: number;
}

export interface PatternChoice {
  pattern: Pattern;
  reasons: string[];
}

export function choosePattern(input: PatternInput): PatternChoice {
  const { consistency, durationMs, participants } = input;
  if (consistency !== 'strong' && consistency !== 'eventual') throw new SagalineError('REQUEST_INVALID', `consistency must be strong or eventual, got "${String(consistency)}"`);
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new SagalineError('REQUEST_INVALID', `duration must be a number of milliseconds ≥ 0, got ${durationMs}`);
  if (!Number.isInteger(participants) || participants < 1) throw new SagalineError('REQUEST_INVALID', `participants must be an integer ≥ 1, got ${participants}`);

  if (consistency === 'eventual') {
    return {
      pattern: 'saga',
      reasons: ['eventual consistency is acceptable: local transactions with compensations hold no locks across services and may run for any length'],
    };
  }
  const short = durationMs <= TWO_PHASE_MAX_DURATION_MS;
  const few = participants <= TWO_PHASE_MAX_PARTICIPANTS;
  if (short && few) {
    return {
      pattern: 'two-phase-commit',
      reasons: [
        'strong consistency is required: every participant must change atomically',
        `the operation is short (${durationMs} ms ≤ ${TWO_PHASE_MAX_DURATION_MS} ms), so holding locks until the decision is acceptable`,
        `${participants} participant(s) ≤ ${TWO_PHASE_MAX_PARTICIPANTS}, so few parties can block one another`,
      ],
    };
  }
  const reasons = ['strong consistency is required, but two-phase commit does not fit:'];
  if (!short) reasons.push(`the operation is long (${durationMs} ms > ${TWO_PHASE_MAX_DURATION_MS} ms): locks would be held across services for that long`);
  if (!few) reasons.push(`${participants} participants > ${TWO_PHASE_MAX_PARTICIPANTS}: any one of them failing or slow blocks all the others`);
  reasons.push('use eventual-consistency reconciliation: apply the changes locally, then detect and repair divergence');
  return { pattern: 'reconciliation', reasons };
}
