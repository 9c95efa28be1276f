/**
 * The state of one instance of any defined saga, rebuilt from its messages by a pure fold, and
 * what the saga asks for next. Generic: status, each step's status, attempts, times, reason and
 * result, and the message that started it — nothing of any one saga.
 *
 *   evolveInstance(definition, state, message) → { state, commands }
 *
 * Commands say which step's participant must act (`run`) or undo (`compensate`) next. Steps whose
 * predecessors all succeeded run together; a failure before the pivot stops new steps, waits for
 * the steps still running, and undoes what succeeded one step at a time, the last to succeed
 * first (a branch that succeeds after its sibling failed is undone too). A failure from the pivot
 * on is retried forward by its participant; once it gives up, the saga is parked, never compensated.
 */
import { compensationOrder, isCompleted, runnableSteps, type DefinedStep, type SagaDefinition, type StepStatus } from './define-saga.ts';

export type InstanceStatus = 'Running' | 'Compensating' | 'Completed' | 'Compensated' | 'Parked' | 'Failed';
export const INSTANCE_STATUSES: readonly InstanceStatus[] = ['Running', 'Compensating', 'Completed', 'Compensated', 'Parked', 'Failed'];

export interface StepState {
  readonly status: StepStatus;
  /** Answers received for the step: 1 after a first success or failure. */
  readonly attempts: number;
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly reason?: string;
  /** The payload of the step's success. */
  readonly result?: unknown;
  /** The step's deadline passed before it answered (its answer, if it comes, is then late). */
  readonly timedOut?: boolean;
}

export interface InstanceState {
  readonly sagaId: string;
  readonly saga: string;
  readonly version: number;
  readonly status: InstanceStatus;
  readonly start: { readonly type: string; readonly payload: unknown };
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly reason?: string;
  readonly steps: Readonly<Record<string, StepState>>;
  /** Step names in the order their success arrived: what compensation undoes, last first. */
  readonly succeededInOrder: readonly string[];
}

/** A message of one instance, as the fold needs it. */
export interface InstanceMessage {
  readonly sagaId: string;
  readonly type: string;
  readonly payload?: unknown;
  /** When it was written (ISO 8601). */
  readonly at: string;
  /** For the engine's own messages about a step: which step. */
  readonly step?: string;
  readonly reason?: string;
}

/** The engine's own messages about a step, in every saga. */
export const ENGINE_MESSAGES = {
  stepTimedOut: 'StepTimedOut',
  compensationFailed: 'CompensationFailed',
  /** A transient failure of one attempt, retried: in the log for audit, it changes nothing. */
  stepAttemptFailed: 'StepAttemptFailed',
} as const;

export interface Command {
  readonly kind: 'run' | 'compensate';
  readonly step: string;
  readonly owner: string;
}

export interface Evolution {
  readonly state: InstanceState | undefined;
  readonly commands: readonly Command[];
  /** Why the message changed nothing, when it did not (a late answer, a message of no step…). */
  readonly ignored?: string;
}

const TERMINAL: readonly InstanceStatus[] = ['Completed', 'Compensated', 'Failed'];

export function isTerminal(status: InstanceStatus): boolean {
  return TERMINAL.includes(status);
}

const ignored = (state: InstanceState | undefined, why: string): Evolution => ({ state, commands: [], ignored: why });

export function evolveInstance(definition: SagaDefinition, state: InstanceState | undefined, message: InstanceMessage): Evolution {

  if (state === undefined) {
    if (message.type !== definition.startedBy) return ignored(state, `no instance ${message.sagaId} yet, and ${message.type} does not start ${definition.name}`);
    const started: InstanceState = {
      sagaId: message.sagaId,
      saga: definition.name,
      version: definition.version,
      status: 'Running',
      start: { type: message.type, payload: message.payload },
      startedAt: message.at,
      steps: Object.fromEntries(definition.steps.map((s) => [s.name, { status: 'pending', attempts: 0 } satisfies StepState])),
      succeededInOrder: [],
    };
    return advance(definition, started, message.at);
  }
  if (message.type === definition.startedBy) return ignored(state, `${message.sagaId} has already started`);
  if (message.type === ENGINE_MESSAGES.stepAttemptFailed) return ignored(state, `an attempt at ${message.step ?? 'a step'} failed and is retried`);

  const engine = engineMessage(definition, message);
  const role = engine ?? definition.messages.get(message.type);
  if (role === undefined || role.kind === 'start') return ignored(state, `${message.type} is not a message of ${definition.name}`);
  const step = definition.steps.find((s) => s.name === role.step) as DefinedStep;
  const current = state.steps[step.name] as StepState;

  if (role.kind === 'succeeded' && current.timedOut && current.status === 'failed') return lateSuccess(definition, state, step, current, message);
  // An ended saga still hears how the undoing of a late success went; nothing else moves it.
  const undoing = current.status === 'compensating' && (role.kind === 'compensated' || role.kind === 'compensationFailed');
  if (isTerminal(state.status) && !undoing) return ignored(state, `${message.sagaId} has ended (${state.status})`);

  switch (role.kind) {
    case 'succeeded': {
      if (current.status !== 'running') return ignored(state, `${step.name} is ${current.status}, not waiting for ${message.type}`);
      const next = withStep(state, step.name, { ...current, status: 'succeeded', attempts: current.attempts + 1, endedAt: message.at, result: message.payload });
      return advance(definition, { ...next, succeededInOrder: [...state.succeededInOrder, step.name] }, message.at);
    }
    case 'failed':
    case 'timedOut': {
      if (current.status !== 'running') return ignored(state, `${step.name} is ${current.status}, not waiting for an answer`);
      const reason = message.reason ?? (role.kind === 'timedOut' ? `${step.name} did not answer within ${step.deadlineMs} ms` : `${message.type}`);
      const timedOut = role.kind === 'timedOut';
      const failed = withStep(state, step.name, { ...current, status: 'failed', attempts: current.attempts + (timedOut ? 0 : 1), endedAt: message.at, reason, ...(timedOut ? { timedOut } : {}) });
      if (step.forwardOnly) {
        // Past the point of no return nothing is undone: the saga waits, visibly, for someone to act
        return { state: { ...failed, status: 'Parked', reason: `${step.name} failed after the pivot: ${reason}` }, commands: [] };
      }
      const compensating = state.status === 'Compensating' ? failed : { ...failed, status: 'Compensating' as const, reason: `${step.name} failed: ${reason}` };
      return advance(definition, compensating, message.at);
    }
    case 'compensated': {
      if (current.status !== 'compensating') return ignored(state, `${step.name} is ${current.status}, not being undone`);
      const undone = withStep(state, step.name, { ...current, status: 'compensated', endedAt: message.at });
      return isTerminal(state.status) ? { state: undone, commands: [] } : advance(definition, undone, message.at);
    }
    case 'compensationFailed': {
      if (current.status !== 'compensating') return ignored(state, `${step.name} is ${current.status}, not being undone`);
      const reason = message.reason ?? `undoing ${step.name} failed`;
      return { state: { ...withStep(state, step.name, { ...current, status: 'failed', reason }), status: 'Failed', endedAt: state.endedAt ?? message.at, reason: `compensation of ${step.name} failed: ${reason}` }, commands: [] };
    }
  }
}

/**
 * A success that arrives after the step's deadline: its effects exist, so they are undone like any
 * other step's (even when the saga has already finished compensating the rest). Past the pivot
 * there is nothing to undo: the late success moves a parked saga on instead.
 */
function lateSuccess(definition: SagaDefinition, state: InstanceState, step: DefinedStep, current: StepState, message: InstanceMessage): Evolution {
  const succeeded = withStep(state, step.name, { ...current, status: 'succeeded', endedAt: message.at, result: message.payload, reason: 'succeeded after its deadline' });
  const inOrder = { ...succeeded, succeededInOrder: [...state.succeededInOrder, step.name] };
  if (step.forwardOnly) {
    if (state.status !== 'Parked') return { state: inOrder, commands: [] };
    const { reason: _parkedFor, ...running } = inOrder;
    return advance(definition, { ...running, status: 'Running' }, message.at);
  }
  if (state.status === 'Compensating') return advance(definition, inOrder, message.at);
  if (step.compensatedBy === null) return { state: inOrder, commands: [] };
  // Ended (Compensated or Failed): undo this one step; the saga's status stays what it was.
  return {
    state: withStep(inOrder, step.name, { ...(inOrder.steps[step.name] as StepState), status: 'compensating' }),
    commands: [{ kind: 'compensate', step: step.name, owner: step.owner }],
  };
}

type EngineRole = { kind: 'timedOut' | 'compensationFailed'; step: string };

function engineMessage(definition: SagaDefinition, message: InstanceMessage): EngineRole | undefined {
  const kind = message.type === ENGINE_MESSAGES.stepTimedOut ? 'timedOut' : message.type === ENGINE_MESSAGES.compensationFailed ? 'compensationFailed' : undefined;
  if (kind === undefined || message.step === undefined || !definition.steps.some((s) => s.name === message.step)) return undefined;
  return { kind, step: message.step };
}

function withStep(state: InstanceState, name: string, step: StepState): InstanceState {
  return { ...state, steps: { ...state.steps, [name]: step } };
}

/** Each step's status by name (a plain loop: this runs for nearly every message a replay folds). */
function statusesOf(state: InstanceState): Record<string, StepStatus> {
  const out: Record<string, StepStatus> = {};
  for (const name in state.steps) out[name] = (state.steps[name] as StepState).status;
  return out;
}

/** After a change: start what may run, or finish, or undo the next step. */
function advance(definition: SagaDefinition, state: InstanceState, at: string): Evolution {
  if (state.status === 'Running') {
    const statuses = statusesOf(state);
    if (isCompleted(definition, statuses)) return { state: { ...state, status: 'Completed', endedAt: at }, commands: [] };
    const runnable = runnableSteps(definition, statuses);
    let next = state;
    for (const s of runnable) next = withStep(next, s.name, { ...(next.steps[s.name] as StepState), status: 'running', startedAt: at });
    return { state: next, commands: runnable.map((s) => ({ kind: 'run', step: s.name, owner: s.owner })) };
  }
  // Compensating: wait for every step still running, then undo one step at a time
  const steps = Object.values(state.steps);
  if (steps.some((s) => s.status === 'running' || s.status === 'compensating')) return { state, commands: [] };
  const toUndo = compensationOrder(definition, state.succeededInOrder).find((s) => state.steps[s.name]?.status === 'succeeded');
  if (toUndo === undefined) return { state: { ...state, status: 'Compensated', endedAt: at }, commands: [] };
  const next = withStep(state, toUndo.name, { ...(state.steps[toUndo.name] as StepState), status: 'compensating' });
  return { state: next, commands: [{ kind: 'compensate', step: toUndo.name, owner: toUndo.owner }] };
}

/** Folds an instance's messages in order; the commands are those of the last message. */
export function foldInstance(definition: SagaDefinition, messages: readonly InstanceMessage[]): Evolution {
  let evolution: Evolution = { state: undefined, commands: [] };
  for (const m of messages) evolution = evolveInstance(definition, evolution.state, m);
  return evolution;
}
