/**
 * The two-phase commit coordinator's rules, pure: the states of a transaction and of each
 * participant, which moves between them are allowed, the decision after phase 1, and what recovery
 * does with a transaction it finds in doubt. No I/O, no clock.
 */
import { SagalineError } from '../core/errors.ts';

export type TransactionState = 'Created' | 'Preparing' | 'Prepared' | 'Committing' | 'Committed' | 'Aborting' | 'Aborted';
export const TRANSACTION_STATES: readonly TransactionState[] = ['Created', 'Preparing', 'Prepared', 'Committing', 'Committed', 'Aborting', 'Aborted'];

/**
 * Every allowed move of a transaction. Committing and Aborting are entered only together with the
 * decision, in one write to the log; a transaction goes to Committing only from Prepared.
 */
export const TRANSACTION_TRANSITIONS: Readonly<Record<TransactionState, readonly TransactionState[]>> = {
  Created: ['Preparing', 'Aborting'],
  Preparing: ['Prepared', 'Aborting'],
  Prepared: ['Committing', 'Aborting'],
  Committing: ['Committed'],
  Aborting: ['Aborted'],
  Committed: [],
  Aborted: [],
};

export type ParticipantState = 'Pending' | 'Preparing' | 'Prepared' | 'VotedNo' | 'Failed' | 'Committing' | 'Committed' | 'Aborting' | 'Aborted';
export const PARTICIPANT_STATES: readonly ParticipantState[] = ['Pending', 'Preparing', 'Prepared', 'VotedNo', 'Failed', 'Committing', 'Committed', 'Aborting', 'Aborted'];

/** Failed: an error or no vote before the phase-1 deadline. Only a Prepared participant can commit. */
export const PARTICIPANT_TRANSITIONS: Readonly<Record<ParticipantState, readonly ParticipantState[]>> = {
  Pending: ['Preparing', 'Aborting'],
  Preparing: ['Prepared', 'VotedNo', 'Failed', 'Aborting'],
  Prepared: ['Committing', 'Aborting'],
  VotedNo: ['Aborting'],
  Failed: ['Aborting'],
  Committing: ['Committed'],
  Aborting: ['Aborted'],
  Committed: [],
  Aborted: [],
};

export const TERMINAL_TRANSACTION_STATES: readonly TransactionState[] = ['Committed', 'Aborted'];

export type Decision = 'commit' | 'abort';

export class InvalidTransitionError extends SagalineError {
  constructor(what: string, from: string, to: string) {
    super('INVALID_TRANSITION', `${what} cannot go from ${from} to ${to}`);
  }
}

export function canMoveTransaction(from: TransactionState, to: TransactionState): boolean {
  return TRANSACTION_TRANSITIONS[from].includes(to);
}

export function canMoveParticipant(from: ParticipantState, to: ParticipantState): boolean {
  return PARTICIPANT_TRANSITIONS[from].includes(to);
}

export function assertTransactionMove(txId: string, from: TransactionState, to: TransactionState): void {
  if (!canMoveTransaction(from, to)) throw new InvalidTransitionError(`transaction ${txId}`, from, to);
}

/** A participant's answer to phase 1. */
export type Vote =
  | { kind: 'yes' }
  | { kind: 'no'; reason: string }
  | { kind: 'error'; error: string }
  | { kind: 'timeout'; afterMs: number };

/** The participant state a vote leads to. */
export function stateAfterVote(vote: Vote): ParticipantState {
  switch (vote.kind) {
    case 'yes': return 'Prepared';
    case 'no': return 'VotedNo';
    case 'error': case 'timeout': return 'Failed';
  }
}

/** Phase 1's outcome: commit only when there is at least one participant and every one voted yes. */
export function decideAfterVotes(votes: readonly Vote[]): Decision {
  return votes.length > 0 && votes.every((v) => v.kind === 'yes') ? 'commit' : 'abort';
}

/** The reason recorded for an abort: the first vote that was not a yes. */
export function abortReason(votes: readonly { name: string; vote: Vote }[]): string | null {
  for (const { name, vote } of votes) {
    if (vote.kind === 'no') return `${name} voted no: ${vote.reason}`;
    if (vote.kind === 'error') return `${name} failed to prepare: ${vote.error}`;
    if (vote.kind === 'timeout') return `${name} did not vote within ${vote.afterMs} ms`;
  }
  return votes.length === 0 ? 'no participants' : null;
}

/** The states a decision moves a transaction and its participants to, before phase 2 starts. */
export function statesOnDecision(decision: Decision): { transaction: TransactionState; participant: ParticipantState } {
  return decision === 'commit' ? { transaction: 'Committing', participant: 'Committing' } : { transaction: 'Aborting', participant: 'Aborting' };
}

/** The states once phase 2 has finished every participant. */
export function statesWhenDone(decision: Decision): { transaction: TransactionState; participant: ParticipantState } {
  return decision === 'commit' ? { transaction: 'Committed', participant: 'Committed' } : { transaction: 'Aborted', participant: 'Aborted' };
}

/** What the log says about a transaction found in doubt (undefined: the log has no such transaction). */
export interface LoggedTransaction {
  state: TransactionState;
  decision: Decision | null;
  /** Milliseconds since the transaction was last changed in the log. */
  ageMs: number;
}

export interface RecoveryInput {
  logged: LoggedTransaction | undefined;
  /** Whether the coordinator that runs the transaction still holds it (a live session lock). */
  ownerAlive: boolean;
  /** An undecided transaction older than this is aborted even if its owner is alive. */
  decisionTimeoutMs: number;
}

/**
 * Recovery's rule (presumed abort):
 * - a logged decision is carried out, whoever wrote it;
 * - no log entry, or no decision while no live coordinator holds the transaction: abort (nothing
 *   can have committed anywhere without a logged commit);
 * - no decision yet and its coordinator is alive: leave it, unless it has waited longer than the
 *   decision timeout — then abort, so no prepared transaction holds locks indefinitely.
 */
export function recoveryAction(input: RecoveryInput): Decision | 'leave' {
  const { logged } = input;
  if (logged === undefined) return 'abort';
  if (logged.decision !== null) return logged.decision;
  if (!input.ownerAlive) return 'abort';
  return logged.ageMs > input.decisionTimeoutMs ? 'abort' : 'leave';
}

/** Global ids: `sagaline_2pc:<transaction id>:<participant name>`; recovery finds them by the prefix. */
export const GID_PREFIX = 'sagaline_2pc:';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isValidName(value: string): boolean {
  return NAME.test(value);
}

export function globalId(txId: string, participant: string): string {
  if (!isValidName(txId)) throw new SagalineError('REQUEST_INVALID', `transaction id must be 1–63 letters, digits or . _ - , got "${txId}"`);
  if (!isValidName(participant)) throw new SagalineError('REQUEST_INVALID', `participant name must be 1–63 letters, digits or . _ - , got "${participant}"`);
  return `${GID_PREFIX}${txId}:${participant}`;
}

export function parseGlobalId(gid: string): { txId: string; participant: string } | undefined {
  if (!gid.startsWith(GID_PREFIX)) return undefined;
  const [txId, participant, ...rest] = gid.slice(GID_PREFIX.length).split(':');
  if (rest.length > 0 || !txId || !participant || !isValidName(txId) || !isValidName(participant)) return undefined;
  return { txId, participant };
}
