/**
 * When retries of a transient failure run out: a forward step reports its own failure (and the
 * saga compensates); a compensation reports CompensationFailed (and the saga is parked as Failed,
 * its reason visible). Pure.
 */
import type { OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { MessageType, Step } from '../../schemas/generated.ts';
import { reply, type DecisionContext, type Incoming } from './decision.ts';
import { stepDefinition, stepOfMessage } from './definition.ts';
import type { SagaState } from './state.ts';

export interface RetryTarget {
  step: Step;
  compensation: boolean;
}

/** What a decision was trying to do, from the messages it would have written. */
export function retryTarget(messages: readonly { type: MessageType }[]): RetryTarget | undefined {
  for (const m of messages) {
    const outcome = stepOfMessage(m.type);
    if (outcome) return { step: outcome.step, compensation: outcome.kind === 'compensated' };
  }
  return undefined;
}

/** The transient-failure key of a target, as in Simulation.transientFailures (RESERVE, RESERVE_COMPENSATION). */
export function targetKey(target: RetryTarget): string {
  return target.compensation ? `${target.step}_COMPENSATION` : target.step;
}

/** Total attempts allowed: the first one plus the step's retry limit. */
export function attemptsAllowed(target: RetryTarget): number {
  return 1 + stepDefinition(target.step).retryLimit;
}

export function giveUp(state: SagaState, cause: Incoming, target: RetryTarget, attempts: number, lastError: string, ctx: DecisionContext): OutgoingMessage {
  const sagaId = state.sagaId;
  const modelId = state.modelId ?? '';
  const reason = `gave up after ${attempts} attempts: ${lastError}`;
  if (target.compensation) return reply(state, cause, 'CompensationFailed', { sagaId, step: target.step, reason, attempts }, ctx);
  switch (target.step) {
    case 'RESERVE': return reply(state, cause, 'ModelReservationFailed', { sagaId, modelId, reason }, ctx);
    case 'ALLOCATE': return reply(state, cause, 'ResourceAllocationFailed', { sagaId, reason }, ctx);
    case 'TRAIN': return reply(state, cause, 'TrainingFailed', { sagaId, jobId: null, reason }, ctx);
    case 'UPDATE': return reply(state, cause, 'ModelUpdateFailed', { sagaId, modelId, reason }, ctx);
    case 'AUDIT': return reply(state, cause, 'AuditFailed', { sagaId, reason }, ctx);
    default: {
      const unreachable: never = target.step;
      throw new Error(`unknown step ${String(unreachable)}`);
    }
  }
}
