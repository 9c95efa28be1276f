/**
 * Saga state folded from the saga's messages — the same fold for the saga-state projection and for
 * every participant's own view. Pure: no I/O, no clock (time comes with each message).
 *
 * Deadlines and completion are decided by one party, the saga watchdog (StepTimedOut,
 * SagaCompleted), so every reader of the log reaches the same state whatever order it sees the
 * topics in: a StepTimedOut always moves a running saga to Compensating, even if the step's late
 * success was seen first; that success is then compensated like any other.
 */
import { SagalineError } from '../../core/errors.ts';
import type { MessagePayloads, MessageType, Step } from '../../schemas/generated.ts';
import { STEPS, stepDefinition, stepIndex, stepOfMessage } from './definition.ts';

export type SagaStatus = 'NotStarted' | 'InProgress' | 'Completed' | 'Compensating' | 'Compensated' | 'Failed';
export const SAGA_STATUSES: readonly SagaStatus[] = ['NotStarted', 'InProgress', 'Completed', 'Compensating', 'Compensated', 'Failed'];

/** Every allowed move of a saga's status; anything else is a bug (never retried). */
export const SAGA_TRANSITIONS: Readonly<Record<SagaStatus, readonly SagaStatus[]>> = {
  NotStarted: ['InProgress'],
  InProgress: ['Completed', 'Compensating'],
  Compensating: ['Compensated', 'Failed'],
  Completed: [],
  Compensated: [],
  Failed: [],
};

export const TERMINAL: readonly SagaStatus[] = ['Completed', 'Compensated', 'Failed'];

export class InvalidTransitionError extends SagalineError {
  constructor(from: SagaStatus, to: SagaStatus, sagaId: string) {
    super('INVALID_TRANSITION', `saga ${sagaId} cannot go from ${from} to ${to}`);
  }
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'compensated' | 'compensation_failed';

export interface StepState {
  status: StepStatus;
  startedAt: number | null;
  finishedAt: number | null;
  reason: string | null;
  /** Released at the end of a completed saga (reservation, allocation): not a compensation. */
  released: boolean;
}

export interface SagaRefs {
  reservationId: string | null;
  allocationId: string | null;
  computeNodes: string[];
  jobId: string | null;
  /** The trained model's artifacts (TrainingCompleted), for the update. */
  modelBinaryUri: string | null;
  previousVersion: string | null;
  newVersion: string | null;
  auditId: string | null;
}

export interface SagaState {
  sagaId: string;
  status: SagaStatus;
  tenantId: string | null;
  modelId: string | null;
  request: MessagePayloads['TrainingRequested'] | null;
  steps: Record<Step, StepState>;
  refs: SagaRefs;
  /** The step whose failure or timeout started the compensation (the earliest, if several), and why. */
  failedStep: Step | null;
  reason: string | null;
  failedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number | null;
  /** Ids of the messages folded in, sorted: a message seen twice changes nothing. */
  processed: string[];
}

/** One message of the saga, as the fold sees it. `at` is when it happened (ms since epoch). */
export interface SagaEvent<T extends MessageType = MessageType> {
  type: T;
  payload: MessagePayloads[T];
  messageId: string;
  at: number;
}

export function initialState(sagaId: string): SagaState {
  const step = (): StepState => ({ status: 'pending', startedAt: null, finishedAt: null, reason: null, released: false });
  return {
    sagaId,
    status: 'NotStarted',
    tenantId: null,
    modelId: null,
    request: null,
    steps: { RESERVE: step(), ALLOCATE: step(), TRAIN: step(), UPDATE: step(), AUDIT: step() },
    refs: { reservationId: null, allocationId: null, computeNodes: [], jobId: null, modelBinaryUri: null, previousVersion: null, newVersion: null, auditId: null },
    failedStep: null,
    reason: null,
    failedAt: null,
    startedAt: null,
    finishedAt: null,
    updatedAt: null,
    processed: [],
  };
}

export function canTransition(from: SagaStatus, to: SagaStatus): boolean {
  return SAGA_TRANSITIONS[from].includes(to);
}

function moveTo(state: SagaState, to: SagaStatus, at: number): void {
  if (state.status === to) return;
  if (!canTransition(state.status, to)) throw new InvalidTransitionError(state.status, to, state.sagaId);
  state.status = to;
  if (TERMINAL.includes(to)) state.finishedAt = at;
}

/**
 * Moves along the table's path towards `target` (e.g. NotStarted → InProgress → Completed when a
 * SagaCompleted is read before the request that started the saga). Terminal states stay put.
 */
const PATHS: Readonly<Record<'Completed' | 'Compensating' | 'Failed', readonly SagaStatus[]>> = {
  Completed: ['InProgress', 'Completed'],
  Compensating: ['InProgress', 'Compensating'],
  Failed: ['InProgress', 'Compensating', 'Failed'],
};

function advanceTo(state: SagaState, target: keyof typeof PATHS, at: number): void {
  for (const next of PATHS[target]) {
    if (state.status === next) continue;
    if (TERMINAL.includes(state.status)) return;
    if (canTransition(state.status, next)) moveTo(state, next, at);
  }
}

/** A step no longer holds an effect that must be undone before earlier steps are compensated. */
export function isSettled(state: SagaState, step: Step): boolean {
  const { status } = state.steps[step];
  if (status === 'pending' || status === 'failed' || status === 'compensated') return true;
  // Audit entries are immutable: a logged audit entry is final.
  return stepDefinition(step).compensated === null && (status === 'succeeded' || status === 'timed_out');
}

/** Every step after `step` is settled: `step` may be compensated now (reverse order). */
export function laterStepsSettled(state: SagaState, step: Step): boolean {
  return STEPS.slice(stepIndex(step) + 1).every((s) => isSettled(state, s.step));
}

/** The step whose compensation is due now, if any (the last unsettled one, once all after it are settled). */
export function compensationDue(state: SagaState): Step | undefined {
  if (state.status !== 'Compensating') return undefined;
  for (const s of [...STEPS].reverse()) {
    if (!isSettled(state, s.step)) return laterStepsSettled(state, s.step) ? s.step : undefined;
  }
  return undefined;
}

/**
 * A success starts the next step even when the saga is already compensating (a late success): the
 * next step's owner then answers with its compensation, so undoing stays in reverse order and the
 * state does not depend on which of the two messages was read first.
 */
function startNext(state: SagaState, after: Step, at: number): void {
  const next = STEPS[stepIndex(after) + 1];
  if (!next) return;
  const s = state.steps[next.step];
  // The step started when its trigger happened, even if its own answer was read first.
  if (s.startedAt === null) s.startedAt = at;
  if (state.status !== 'Completed' && s.status === 'pending') s.status = 'running';
}

/**
 * A step failed or timed out. The earliest such report names the saga's failure, whatever order
 * the reports are read in (the projection rebuilt from the log must equal the live one).
 */
function failSaga(state: SagaState, step: Step, reason: string, at: number): void {
  if (state.status === 'Completed') return;
  advanceTo(state, 'Compensating', at);
  const earlier = state.failedAt === null || at < state.failedAt || (at === state.failedAt && stepIndex(step) < stepIndex(state.failedStep as Step));
  if (earlier) {
    state.failedStep = step;
    state.reason = reason;
    state.failedAt = at;
  }
}

function insertSorted(list: string[], id: string): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as string) > id) i -= 1;
  list.splice(i, 0, id);
}

/** Folds one message into the state. Unknown, duplicate or irrelevant messages return it unchanged. */
export function evolve(previous: SagaState, event: SagaEvent): SagaState {
  if (previous.processed.includes(event.messageId)) return previous;
  const state: SagaState = structuredClone(previous);
  insertSorted(state.processed, event.messageId);
  state.updatedAt = Math.max(state.updatedAt ?? event.at, event.at);
  const p = event.payload as unknown as Record<string, unknown>;

  switch (event.type) {
    case 'TrainingRequested': {
      const request = event.payload as MessagePayloads['TrainingRequested'];
      state.request = request;
      state.tenantId = request.tenantId;
      state.modelId = request.modelId;
      state.startedAt = event.at;
      if (state.status === 'NotStarted') moveTo(state, 'InProgress', event.at);
      if (state.steps.RESERVE.status === 'pending' && state.status === 'InProgress') state.steps.RESERVE.status = 'running';
      state.steps.RESERVE.startedAt = event.at;
      break;
    }
    case 'TrainingStarted': {
      // The job id only: the step's start is ResourcesAllocated's time, whichever is read first.
      state.refs.jobId = String(p.jobId);
      if (state.steps.TRAIN.status === 'pending') state.steps.TRAIN.status = 'running';
      break;
    }
    case 'StepTimedOut': {
      const step = p.step as Step;
      const s = state.steps[step];
      if (s.status === 'pending' || s.status === 'running') {
        s.status = 'timed_out';
        s.finishedAt = event.at;
        s.reason = `no answer before the ${step} deadline`;
      } else if (s.status === 'succeeded') {
        s.reason = 'succeeded after its deadline (to be compensated)';
      }
      failSaga(state, step, `${step} timed out`, event.at);
      break;
    }
    case 'SagaCompleted': {
      advanceTo(state, 'Completed', event.at);
      break;
    }
    case 'CompensationFailed': {
      const step = p.step as Step;
      state.steps[step].status = 'compensation_failed';
      state.steps[step].reason = String(p.reason);
      if (state.status !== 'Completed') {
        advanceTo(state, 'Failed', event.at);
        state.reason = `compensation of ${step} failed: ${String(p.reason)}`;
      }
      break;
    }
    default: {
      const outcome = stepOfMessage(event.type);
      if (!outcome) break;
      const s = state.steps[outcome.step];
      if (outcome.kind === 'succeeded') {
        // A success read after the step's own compensation (its owner writes both, in that order,
        // on one partition) is stale: it must not start the next step.
        if (s.status === 'compensated' || s.status === 'compensation_failed') break;
        if (s.status === 'pending' || s.status === 'running' || s.status === 'timed_out') {
          s.reason = s.status === 'timed_out' ? 'succeeded after its deadline (to be compensated)' : null;
          s.status = 'succeeded';
          s.finishedAt = event.at;
        }
        recordRefs(state, event);
        startNext(state, outcome.step, event.at);
      } else if (outcome.kind === 'failed') {
        if (s.status === 'pending' || s.status === 'running' || s.status === 'timed_out') {
          s.status = 'failed';
          s.finishedAt = event.at;
          s.reason = String(p.reason);
        }
        failSaga(state, outcome.step, `${outcome.step} failed: ${String(p.reason)}`, event.at);
      } else if (p.compensation === false) {
        // A release at the end of a completed saga (it may be read before SagaCompleted).
        s.released = true;
      } else if (s.status !== 'compensation_failed') {
        s.status = 'compensated';
        s.finishedAt = event.at;
        s.reason = typeof p.reason === 'string' ? p.reason : s.reason;
      }
    }
  }

  if (state.status === 'Compensating' && STEPS.every((s) => isSettled(state, s.step))) moveTo(state, 'Compensated', event.at);
  if (state.status === 'Compensated') {
    // When the last compensation happened — not when this reader happened to notice.
    state.finishedAt = Math.max(...STEPS.map((s) => state.steps[s.step].finishedAt ?? 0), state.failedAt ?? 0);
  }
  return state;
}

function recordRefs(state: SagaState, event: SagaEvent): void {
  const p = event.payload as unknown as Record<string, unknown>;
  switch (event.type) {
    case 'ModelReserved': state.refs.reservationId = String(p.reservationId); break;
    case 'ResourcesAllocated': state.refs.allocationId = String(p.allocationId); state.refs.computeNodes = [...(p.computeNodes as string[])]; break;
    case 'TrainingCompleted': state.refs.jobId = String(p.jobId); state.refs.modelBinaryUri = String((p.artifacts as { modelBinaryUri: string }).modelBinaryUri); break;
    case 'ModelUpdated': state.refs.previousVersion = String(p.previousVersion); state.refs.newVersion = String(p.newVersion); break;
    case 'AuditLogged': state.refs.auditId = String(p.auditId); break;
    default: break;
  }
}

export function fold(sagaId: string, events: readonly SagaEvent[]): SagaState {
  return events.reduce(evolve, initialState(sagaId));
}
