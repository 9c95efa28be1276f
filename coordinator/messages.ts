/**
 * The messages the two-phase commit coordinator's participants write to their outboxes. They travel
 * on the model and audit topics, keyed by the transaction id (also their `sagaId` header), but they
 * belong to no saga: the saga-state projection leaves them out.
 */
import type { MessageType } from '../schemas/generated.ts';

export const TWO_PHASE_COMMIT_MESSAGES: readonly MessageType[] = ['ModelVersionChanged', 'ModelVersionAudited'];

export function isTwoPhaseCommitMessage(type: string): boolean {
  return (TWO_PHASE_COMMIT_MESSAGES as readonly string[]).includes(type);
}
