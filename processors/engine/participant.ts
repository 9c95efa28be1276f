/**
 * A participant: what one service does for the steps of one saga it owns — per step, the action
 * and (when the step has a compensation message) the compensation. Each gets the saga's view, the
 * message that asked for it and the service's own transaction, and returns a success with the
 * payload of the step's success message, or a business failure with a reason.
 *
 * Throwing a `TransientError` (or losing the database connection) asks for a retry with backoff,
 * up to the step's retry limit; any other exception is a bug: the message is parked, not retried.
 * Everything around the call — inbox, outbox, retries, deferral, deadlines — is the engine's.
 */
import type pg from 'pg';
import { ConfigError, SagalineError } from '../../core/errors.ts';
import type { MessageMetadata } from '../../outbox-connector/outbox-writer.ts';
import type { DefinedStep, SagaDefinition } from '../saga/define-saga.ts';
import type { InstanceState } from '../saga/instance.ts';

export interface StepInput {
  /** The saga as folded so far: its start message, each step's status and result. */
  readonly saga: InstanceState;
  /** The step being run or undone. */
  readonly step: string;
  /** The message that asked for it. */
  readonly message: { readonly type: string; readonly payload: unknown; readonly metadata: MessageMetadata };
  /** The service's own transaction: business changes made with it commit with the step's outcome, or not at all. */
  readonly tx: pg.ClientBase;
  /** 1 on the first try, then 2, 3… after transient failures. */
  readonly attempt: number;
}

export type StepOutcome =
  | { readonly outcome: 'succeeded'; readonly payload: unknown }
  | { readonly outcome: 'failed'; readonly reason: string; readonly payload: unknown };

/** What `act` may also return: the step goes on after this transaction, and its outcome is reported later. */
export type ActOutcome = StepOutcome | { readonly outcome: 'later' };

/** The step succeeded; `payload` is its success message's (or, for a compensation, its compensation message's). */
export const ok = (payload: unknown = {}): StepOutcome => ({ outcome: 'succeeded', payload });

/** The step failed for a business reason; the failure message's payload is `{ reason }` unless given. */
export const fail = (reason: string, payload?: unknown): StepOutcome => ({ outcome: 'failed', reason, payload: payload ?? { reason } });

/**
 * The step was started and goes on outside this transaction (a job, a call that answers later):
 * nothing is written now; its outcome is reported with `complete()` (from the participant's
 * `poll`, or `RunningParticipant.complete` in the service's own process). Until then its deadline
 * runs; if it passes first, the step's `cancel` is called and the saga moves on without it.
 */
export const later = (): ActOutcome => ({ outcome: 'later' });

/** Thrown by an action or compensation: try again later (with backoff, up to the step's retry limit). */
export class TransientError extends SagalineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSIENT', message, { retriable: true, ...options });
  }
}

export interface StepHandlers {
  act(input: StepInput): Promise<ActOutcome> | ActOutcome;
  /** Required exactly when the step has a compensation message. It cannot fail for a business reason: throw to retry. */
  compensate?(input: StepInput & { readonly result: unknown }): Promise<StepOutcome | void> | StepOutcome | void;
  /**
   * The failure message's payload when the engine gives up on the step (retries ran out); default
   * `{ reason }`, which fits any failure record whose other fields have defaults.
   */
  failurePayload?(reason: string, saga: InstanceState): unknown;
  /**
   * For a step whose `act` returned `later()`: its deadline passed before its outcome was reported,
   * so the saga goes on without it — stop the work it started. Runs once, in the service's
   * transaction; an outcome reported after it is refused (`complete` answers false).
   */
  cancel?(input: StepInput): Promise<void> | void;
}

/** Reports the outcome of a step that returned `later()`; false when the step no longer waits for one (reported already, cancelled). */
export type Complete = (report: { sagaId: string; step: string; outcome: StepOutcome }, tx?: pg.ClientBase) => Promise<boolean>;

/** What the engine gives a participant's `poll`. */
export interface PollContext {
  /** The service's database. */
  readonly db: pg.Pool;
  readonly complete: Complete;
}

/** An instance as it ended, for the participant's `onEnd`. */
export interface EndInput {
  readonly saga: InstanceState;
  readonly tx: pg.ClientBase;
}

export interface ParticipantSpec {
  /** The service's database (on the configured Postgres server): its business tables, inbox, outbox. */
  database: string;
  /** Its business tables: idempotent DDL, run at start (and by provisioning). */
  ddl?: readonly string[];
  /** Handlers for every step the service owns in the saga. */
  steps: Readonly<Record<string, StepHandlers>>;
  /**
   * Called once when this service's view of an instance reaches its end (Completed, Compensated or
   * Failed), in the transaction that folds the message that ended it: to let go of what the saga
   * held while it ran (a lock, a reservation), which is not a step of its own. A Failed saga whose
   * compensation an operator retries ends again (Compensated, say): it is called again then.
   */
  onEnd?(input: EndInput): Promise<void> | void;
  /** The service's own schedule (due jobs, an external system to ask): `run` every `intervalMs`, typically reporting `later()` steps with `complete`. */
  poll?: { readonly intervalMs: number; run(context: PollContext): Promise<unknown> };
}

export interface Participant {
  readonly saga: SagaDefinition;
  readonly service: string;
  readonly database: string;
  readonly ddl: readonly string[];
  readonly steps: Readonly<Record<string, StepHandlers>>;
  readonly onEnd?: ParticipantSpec['onEnd'];
  readonly poll?: ParticipantSpec['poll'];
  /**
   * Payloads this participant's handlers write, by message (the HTTP participant's fixed shapes):
   * checked against the message records when it starts, so a record that would refuse them is a
   * configuration error then, not a parked message later.
   */
  readonly replyExamples?: ReadonlyMap<string, readonly unknown[]>;
  /**
   * Its handlers act outside the service's transaction (the HTTP participant's calls), so a rollback
   * cannot undo them: the engine then runs each handler once per attempt — batches run with a
   * savepoint around each message from the start, instead of running again with them after a failure.
   */
  readonly effectsOutsideTransaction?: boolean;
  /** It runs every step of its saga, whoever owns it (the runner of posted sagas, whose steps' owners are the services it calls). */
  readonly runsEveryStep?: boolean;
  /** Handlers made for a step of one instance's own definition (posted sagas), instead of `steps` by name. */
  handlersFor?(step: DefinedStep, definition: SagaDefinition): StepHandlers | undefined;
}

const DATABASE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Checks the handlers against the definition: one for each step `service` owns, a compensation exactly where one is defined. */
export function participant(saga: SagaDefinition, service: string, spec: ParticipantSpec): Participant {
  const problems: string[] = [];
  if (!saga.services.includes(service)) problems.push(`saga ${saga.name} has no step owned by ${service} (its services: ${saga.services.join(', ')})`);
  if (typeof spec.database !== 'string' || !DATABASE_NAME.test(spec.database)) problems.push(`database ${JSON.stringify(spec.database)}: expected lower-case letters, digits and _, starting with a letter`);
  const handlers = spec.steps ?? {};
  for (const step of saga.steps.filter((s) => s.owner === service)) {
    const h = handlers[step.name];
    if (!h || typeof h.act !== 'function') {
      problems.push(`step ${step.name}: no act() handler`);
      continue;
    }
    if (step.compensatedBy !== null && step.forwardOnly === false && typeof h.compensate !== 'function') problems.push(`step ${step.name}: no compensate() handler, but the step is compensated by ${step.compensatedBy}`);
    if (step.compensatedBy === null && h.compensate !== undefined) problems.push(`step ${step.name}: has compensate(), but the definition gives it no compensation message`);
    if (h.cancel !== undefined && typeof h.cancel !== 'function') problems.push(`step ${step.name}: cancel must be a function`);
  }
  for (const name of Object.keys(handlers)) {
    const step = saga.steps.find((s) => s.name === name);
    if (!step) problems.push(`step ${name}: not a step of ${saga.name}`);
    else if (step.owner !== service) problems.push(`step ${name}: owned by ${step.owner}, not ${service}`);
  }
  if (spec.onEnd !== undefined && typeof spec.onEnd !== 'function') problems.push('onEnd must be a function');
  if (spec.poll !== undefined && (typeof spec.poll.run !== 'function' || !Number.isInteger(spec.poll.intervalMs) || spec.poll.intervalMs <= 0)) {
    problems.push(`poll: expected { intervalMs: a positive number of milliseconds, run: a function }, got intervalMs ${JSON.stringify(spec.poll.intervalMs)}`);
  }
  if (problems.length > 0) throw new ConfigError(`participant ${service} of ${saga.name}:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze({
    saga,
    service,
    database: spec.database,
    ddl: [...(spec.ddl ?? [])],
    steps: { ...handlers },
    ...(spec.onEnd ? { onEnd: spec.onEnd } : {}),
    ...(spec.poll ? { poll: spec.poll } : {}),
  });
}
