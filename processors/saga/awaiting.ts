/**
 * What a saga that has not ended is waiting for: the step, the service that owns it and the
 * messages that would move it on. Pure, from the folded state; for stuck-saga reports.
 */
import { STEPS, stepDefinition } from './definition.ts';
import { compensationDue, TERMINAL, type SagaState } from './state.ts';
import type { MessageType, Step } from '../../schemas/generated.ts';

export interface Awaiting {
  /** The step the saga waits on; null when it waits on no step (not started, or for the watchdog's verdict). */
  step: Step | null;
  /** Who should send the awaited message. */
  from: string;
  /** Any of these would move the saga on. */
  messages: MessageType[];
  /** One line for a human. */
  summary: string;
}

const WATCHDOG = 'saga-state (watchdog)';

export function awaiting(state: SagaState | undefined): Awaiting | undefined {
  if (state && TERMINAL.includes(state.status)) return undefined;
  if (!state || state.status === 'NotStarted') {
    const first = STEPS[0]!;
    return {
      step: first.step,
      from: first.service,
      messages: [first.succeeded, first.failed],
      summary: `not started: no message of it projected yet (its ${first.startedBy} not delivered, or ${first.service} not answering)`,
    };
  }
  if (state.status === 'Compensating') {
    const due = compensationDue(state);
    if (due) {
      const d = stepDefinition(due);
      return { step: due, from: d.service, messages: [d.compensated as MessageType, 'CompensationFailed'], summary: `compensating: waits for ${d.service} to compensate ${due} (${d.compensated})` };
    }
    // A later step is still running: its answer (or its deadline) comes first.
    const running = [...STEPS].reverse().find((s) => state.steps[s.step].status === 'running');
    if (running) {
      return { step: running.step, from: running.service, messages: [running.succeeded, running.failed, 'StepTimedOut'], summary: `compensating: waits for ${running.service}'s answer to ${running.step} (${running.succeeded} or ${running.failed}) or its deadline` };
    }
    return { step: null, from: WATCHDOG, messages: [], summary: 'compensating, but no compensation is due and no step runs (a fold that cannot move on)' };
  }
  const running = STEPS.find((s) => state.steps[s.step].status === 'running');
  if (running) {
    return {
      step: running.step,
      from: running.service,
      messages: [running.succeeded, running.failed, 'StepTimedOut'],
      summary: `in progress: waits for ${running.service} to answer ${running.step} (${running.succeeded} or ${running.failed}), or for its deadline (StepTimedOut)`,
    };
  }
  return { step: null, from: WATCHDOG, messages: ['SagaCompleted'], summary: 'every step succeeded: waits for the watchdog\'s SagaCompleted' };
}

