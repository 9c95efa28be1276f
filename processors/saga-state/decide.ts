/**
 * The saga watchdog's decisions, the one place where time and completion are arbitrated: it
 * schedules a deadline for every running step, fires StepTimedOut when one passes, and declares
 * SagaCompleted once the audit is logged — never both for one saga. Pure.
 */
import type { Step } from '../../schemas/generated.ts';
import type { Deadlines } from '../saga/definition.ts';
import { reply, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';
import { STEPS } from '../saga/definition.ts';
import type { SagaState } from '../saga/state.ts';

export interface Timer {
  step: Step;
  dueAt: number;
  status: 'pending' | 'fired' | 'cancelled';
}

export interface WatchdogFacts {
  timers: Timer[];
  completed: boolean;
}

export type WatchdogCommand =
  | { kind: 'schedule'; sagaId: string; step: Step; dueAt: number }
  | { kind: 'cancel'; sagaId: string; step: Step }
  | { kind: 'fire'; sagaId: string; step: Step }
  | { kind: 'complete'; sagaId: string };

/** After a message was folded in: schedule deadlines of running steps, cancel settled ones, declare completion. */
export function decide(state: SagaState, incoming: Incoming, facts: WatchdogFacts, deadlines: Deadlines, ctx: DecisionContext): Decision<WatchdogCommand> {
  const d: Decision<WatchdogCommand> = { commands: [], messages: [] };
  const fired = facts.timers.some((t) => t.status === 'fired');
  for (const { step } of STEPS) {
    const s = state.steps[step];
    const timer = facts.timers.find((t) => t.step === step);
    if (s.status === 'running' && state.status === 'InProgress' && !timer && s.startedAt !== null) {
      d.commands.push({ kind: 'schedule', sagaId: state.sagaId, step, dueAt: s.startedAt + deadlines[step] });
    } else if (s.status !== 'running' && timer?.status === 'pending') {
      d.commands.push({ kind: 'cancel', sagaId: state.sagaId, step });
    }
  }
  if (state.status === 'InProgress' && state.steps.AUDIT.status === 'succeeded' && !facts.completed && !fired) {
    d.commands.push({ kind: 'complete', sagaId: state.sagaId });
    d.messages.push(reply(state, incoming, 'SagaCompleted', { sagaId: state.sagaId, completedAt: ctx.now }, ctx));
  }
  return d;
}

/** A pending timer whose time has come: fire it, unless the saga already completed or the step moved on. */
export function decideTimer(state: SagaState, timer: Timer, facts: WatchdogFacts, cause: Incoming, ctx: DecisionContext): Decision<WatchdogCommand> {
  const d: Decision<WatchdogCommand> = { commands: [], messages: [] };
  if (timer.status !== 'pending' || timer.dueAt > ctx.now) return d;
  const s = state.steps[timer.step];
  if (facts.completed || state.status !== 'InProgress' || (s.status !== 'running' && s.status !== 'pending')) {
    d.commands.push({ kind: 'cancel', sagaId: state.sagaId, step: timer.step });
    return d;
  }
  d.commands.push({ kind: 'fire', sagaId: state.sagaId, step: timer.step });
  d.messages.push(reply(state, cause, 'StepTimedOut', { sagaId: state.sagaId, step: timer.step, deadlineAt: timer.dueAt }, ctx));
  return d;
}
