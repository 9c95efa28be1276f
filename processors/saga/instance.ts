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
import { compensationOrder, isCompleted, roleOf, runnableSteps, stepNamed, type DefinedStep, type SagaDefinition, type StepStatus } from './define-saga.ts';

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
  /** An operator cancels a running saga: what has run is compensated. Refused from the pivot on. */
  cancelRequested: 'SagaCancelRequested',
  /** An operator retries the compensation of a Failed saga, once its cause is fixed. */
  compensationRetryRequested: 'CompensationRetryRequested',
  /** An operator resumed, or skipped, a message a participant had parked: for audit, it changes nothing in the saga. */
  parkedMessageResumed: 'ParkedMessageResumed',
  parkedMessageSkipped: 'ParkedMessageSkipped',
} as const;

/** Who asked for an operator action, and why: the payload of the actions above. */
export interface OperatorAction {
  readonly by: string;
  readonly reason: string;
}

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

/**
 * The next state while one message is folded: a copy of the previous state made once, then
 * changed in place — the previous state is never touched. A replay folds every message of the
 * log through here, so a message costs one copy, not one per change.
 */
type Draft = { -readonly [K in keyof InstanceState]: InstanceState[K] } & { steps: Record<string, StepState> };
const draftOf = (state: InstanceState): Draft => ({ ...state, steps: { ...state.steps } });

export function evolveInstance(definition: SagaDefinition, state: InstanceState | undefined, message: InstanceMessage): Evolution {

  if (state === undefined) {
    if (message.type !== definition.startedBy) return ignored(state, `no instance ${message.sagaId} yet, and ${message.type} does not start ${definition.name}`);
    const steps: Record<string, StepState> = {};
    for (const s of definition.steps) steps[s.name] = { status: 'pending', attempts: 0 };
    const started: Draft = {
      sagaId: message.sagaId,
      saga: definition.name,
      version: definition.version,
      status: 'Running',
      start: { type: message.type, payload: message.payload },
      startedAt: message.at,
      steps,
      succeededInOrder: [],
    };
    return advance(definition, started, message.at);
  }
  if (message.type === definition.startedBy) return ignored(state, `${message.sagaId} has already started`);
  if (message.type === ENGINE_MESSAGES.stepAttemptFailed) return ignored(state, `an attempt at ${message.step ?? 'a step'} failed and is retried`);
  if (message.type === ENGINE_MESSAGES.parkedMessageResumed || message.type === ENGINE_MESSAGES.parkedMessageSkipped) return ignored(state, `an operator acted on a message a participant had parked (${message.type})`);
  if (message.type === ENGINE_MESSAGES.cancelRequested) return cancel(definition, state, message);
  if (message.type === ENGINE_MESSAGES.compensationRetryRequested) return retryCompensation(definition, state, message);

  const engine = engineMessage(definition, message);
  const role = engine ?? roleOf(definition, message.type, message.step);
  if (role === undefined || role.kind === 'start') return ignored(state, `${message.type} is not a message of ${definition.name}`);
  const step = stepNamed(definition, role.step) as DefinedStep;
  const current = state.steps[step.name] as StepState;

  if (role.kind === 'succeeded' && current.timedOut && current.status === 'failed') return lateSuccess(definition, state, step, current, message);
  // An ended saga still hears how the undoing of a late success went; nothing else moves it.
  const undoing = current.status === 'compensating' && (role.kind === 'compensated' || role.kind === 'compensationFailed');
  if (isTerminal(state.status) && !undoing) return ignored(state, `${message.sagaId} has ended (${state.status})`);

  switch (role.kind) {
    case 'succeeded': {
      if (current.status !== 'running') return ignored(state, `${step.name} is ${current.status}, not waiting for ${message.type}`);
      const next = draftOf(state);
      next.steps[step.name] = { ...current, status: 'succeeded', attempts: current.attempts + 1, endedAt: message.at, result: message.payload };
      next.succeededInOrder = [...state.succeededInOrder, step.name];
      return advance(definition, next, message.at);
    }
    case 'failed':
    case 'timedOut': {
      if (current.status !== 'running') return ignored(state, `${step.name} is ${current.status}, not waiting for an answer`);
      const reason = message.reason ?? (role.kind === 'timedOut' ? `${step.name} did not answer within ${step.deadlineMs} ms` : `${message.type}`);
      const timedOut = role.kind === 'timedOut';
      const next = draftOf(state);
      next.steps[step.name] = { ...current, status: 'failed', attempts: current.attempts + (timedOut ? 0 : 1), endedAt: message.at, reason, ...(timedOut ? { timedOut } : {}) };
      if (step.forwardOnly) {
        // Past the point of no return nothing is undone: the saga waits, visibly, for someone to act
        next.status = 'Parked';
        next.reason = `${step.name} failed after the pivot: ${reason}`;
        return { state: next, commands: [] };
      }
      if (state.status !== 'Compensating') {
        next.status = 'Compensating';
        next.reason = `${step.name} failed: ${reason}`;
      }
      return advance(definition, next, message.at);
    }
    case 'compensated': {
      if (current.status !== 'compensating') return ignored(state, `${step.name} is ${current.status}, not being undone`);
      const next = draftOf(state);
      next.steps[step.name] = { ...current, status: 'compensated', endedAt: message.at };
      return isTerminal(state.status) ? { state: next, commands: [] } : advance(definition, next, message.at);
    }
    case 'compensationFailed': {
      if (current.status !== 'compensating') return ignored(state, `${step.name} is ${current.status}, not being undone`);
      const reason = message.reason ?? `undoing ${step.name} failed`;
      const next = draftOf(state);
      next.steps[step.name] = { ...current, status: 'failed', reason };
      next.status = 'Failed';
      next.endedAt = state.endedAt ?? message.at;
      next.reason = `compensation of ${step.name} failed: ${reason}`;
      return { state: next, commands: [] };
    }
  }
}

/**
 * A success that arrives after the step's deadline: its effects exist, so they are undone like any
 * other step's (even when the saga has already finished compensating the rest). Past the pivot
 * there is nothing to undo: the late success moves a parked saga on instead.
 */
function lateSuccess(definition: SagaDefinition, state: InstanceState, step: DefinedStep, current: StepState, message: InstanceMessage): Evolution {
  const next = draftOf(state);
  next.steps[step.name] = { ...current, status: 'succeeded', endedAt: message.at, result: message.payload, reason: 'succeeded after its deadline' };
  next.succeededInOrder = [...state.succeededInOrder, step.name];
  if (step.forwardOnly) {
    if (state.status !== 'Parked') return { state: next, commands: [] };
    delete next.reason; // what it was parked for
    next.status = 'Running';
    return advance(definition, next, message.at);
  }
  if (state.status === 'Compensating') return advance(definition, next, message.at);
  if (step.compensatedBy === null) return { state: next, commands: [] };
  // Ended (Compensated or Failed): undo this one step; the saga's status stays what it was.
  next.steps[step.name] = { ...(next.steps[step.name] as StepState), status: 'compensating' };
  return { state: next, commands: [{ kind: 'compensate', step: step.name, owner: step.owner }] };
}

const actionOf = (message: InstanceMessage): OperatorAction => {
  const p = (message.payload ?? {}) as Partial<OperatorAction>;
  return { by: p.by ?? 'an operator', reason: p.reason ?? 'no reason given' };
};

/**
 * An operator's cancel: a running saga stops starting steps and undoes what has run, in the
 * definition's order, as after a failure (steps still running are waited for, then undone too).
 * From the pivot on nothing can be undone, so a saga whose pivot has started is not cancelled; nor
 * is one compensating already, parked (its pivot failed) or ended.
 */
function cancel(definition: SagaDefinition, state: InstanceState, message: InstanceMessage): Evolution {
  const { by, reason } = actionOf(message);
  if (isTerminal(state.status)) return ignored(state, `${state.sagaId} has ended (${state.status}): nothing to cancel`);
  const pastPivot = definition.steps.find((s) => s.forwardOnly && state.steps[s.name]?.status !== 'pending');
  if (pastPivot) return ignored(state, `${state.sagaId} is past its pivot (${definition.pivot ?? pastPivot.name}: ${pastPivot.name} is ${state.steps[pastPivot.name]?.status}): what it did cannot be undone`);
  if (state.status !== 'Running') return ignored(state, `${state.sagaId} is ${state.status}, not running: nothing to cancel`);
  const next = draftOf(state);
  next.status = 'Compensating';
  next.reason = `cancelled by ${by}: ${reason}`;
  return advance(definition, next, message.at);
}

/**
 * An operator's retry of a Failed saga's compensation, after its cause was fixed: each step whose
 * undoing failed (a step that had succeeded and is now failed) is undone again, and the saga goes
 * on compensating from there as if the undoing had not failed.
 */
function retryCompensation(definition: SagaDefinition, state: InstanceState, message: InstanceMessage): Evolution {
  const { by, reason } = actionOf(message);
  if (state.status !== 'Failed') return ignored(state, `${state.sagaId} is ${state.status}: only a Failed saga's compensation can be retried`);
  const failed = state.succeededInOrder.filter((name) => state.steps[name]?.status === 'failed');
  if (failed.length === 0) return ignored(state, `${state.sagaId} has no step whose compensation failed`);
  const next = draftOf(state);
  for (const name of failed) {
    const { reason: _undoingFailed, ...step } = state.steps[name] as StepState;
    next.steps[name] = { ...step, status: 'succeeded' };
  }
  delete next.endedAt;
  next.status = 'Compensating';
  next.reason = `compensation retried by ${by}: ${reason}`;
  return advance(definition, next, message.at);
}

type EngineRole = { kind: 'timedOut' | 'compensationFailed'; step: string };

function engineMessage(definition: SagaDefinition, message: InstanceMessage): EngineRole | undefined {
  const kind = message.type === ENGINE_MESSAGES.stepTimedOut ? 'timedOut' : message.type === ENGINE_MESSAGES.compensationFailed ? 'compensationFailed' : undefined;
  if (kind === undefined || message.step === undefined || stepNamed(definition, message.step) === undefined) return undefined;
  return { kind, step: message.step };
}

/** After a change: start what may run, or finish, or undo the next step (changes the draft). */
function advance(definition: SagaDefinition, next: Draft, at: string): Evolution {
  if (next.status === 'Running') {
    if (isCompleted(definition, next.steps)) {
      next.status = 'Completed';
      next.endedAt = at;
      return { state: next, commands: [] };
    }
    const runnable = runnableSteps(definition, next.steps);
    for (const s of runnable) next.steps[s.name] = { ...(next.steps[s.name] as StepState), status: 'running', startedAt: at };
    return { state: next, commands: runnable.map((s) => ({ kind: 'run', step: s.name, owner: s.owner })) };
  }
  // Compensating: wait for every step still running, then undo one step at a time
  for (const name in next.steps) {
    const status = (next.steps[name] as StepState).status;
    if (status === 'running' || status === 'compensating') return { state: next, commands: [] };
  }
  const toUndo = compensationOrder(definition, next.succeededInOrder).find((s) => next.steps[s.name]?.status === 'succeeded');
  if (toUndo === undefined) {
    next.status = 'Compensated';
    next.endedAt = at;
    return { state: next, commands: [] };
  }
  next.steps[toUndo.name] = { ...(next.steps[toUndo.name] as StepState), status: 'compensating' };
  return { state: next, commands: [{ kind: 'compensate', step: toUndo.name, owner: toUndo.owner }] };
}

/** Folds an instance's messages in order; the commands are those of the last message. */
export function foldInstance(definition: SagaDefinition, messages: readonly InstanceMessage[]): Evolution {
  let evolution: Evolution = { state: undefined, commands: [] };
  for (const m of messages) evolution = evolveInstance(definition, evolution.state, m);
  return evolution;
}
