import { describe, expect, it } from 'vitest';
import {
  abortReason, canMoveParticipant, canMoveTransaction, decideAfterVotes, globalId, parseGlobalId, PARTICIPANT_STATES, PARTICIPANT_TRANSITIONS,
  recoveryAction, stateAfterVote, statesOnDecision, statesWhenDone, TRANSACTION_STATES, TRANSACTION_TRANSITIONS, type Decision, type TransactionState, type Vote,
} from './states.ts';

const yes: Vote = { kind: 'yes' };
const no: Vote = { kind: 'no', reason: 'model m1 is reserved for training' };
const error: Vote = { kind: 'error', error: 'connection refused' };
const timeout: Vote = { kind: 'timeout', afterMs: 5_000 };

describe('two-phase commit states', () => {
  it('allows exactly the designed transaction moves', () => {
    const allowed = new Set(['Created>Preparing', 'Created>Aborting', 'Preparing>Prepared', 'Preparing>Aborting', 'Prepared>Committing', 'Prepared>Aborting', 'Committing>Committed', 'Aborting>Aborted']);
    for (const from of TRANSACTION_STATES) {
      for (const to of TRANSACTION_STATES) expect(canMoveTransaction(from, to), `${from}>${to}`).toBe(allowed.has(`${from}>${to}`));
    }
  });

  it('commits only a transaction whose every participant prepared, and a participant only once prepared', () => {
    const reachCommitting = TRANSACTION_STATES.filter((s) => TRANSACTION_TRANSITIONS[s].includes('Committing'));
    expect(reachCommitting).toEqual(['Prepared']);
    expect(PARTICIPANT_STATES.filter((s) => PARTICIPANT_TRANSITIONS[s].includes('Committing'))).toEqual(['Prepared']);
    for (const from of PARTICIPANT_STATES) {
      for (const to of PARTICIPANT_STATES) {
        if (to === 'Committed') expect(canMoveParticipant(from, to), `${from}>${to}`).toBe(from === 'Committing');
        if (to === 'Aborted') expect(canMoveParticipant(from, to), `${from}>${to}`).toBe(from === 'Aborting');
      }
    }
  });

  it('has terminal states with no way out, and every other state leads to one', () => {
    expect(TRANSACTION_TRANSITIONS.Committed).toEqual([]);
    expect(TRANSACTION_TRANSITIONS.Aborted).toEqual([]);
    const reaches = (s: TransactionState, seen = new Set<TransactionState>()): boolean =>
      s === 'Committed' || s === 'Aborted' || TRANSACTION_TRANSITIONS[s].some((n) => !seen.has(n) && reaches(n, new Set([...seen, s])));
    for (const s of TRANSACTION_STATES) expect(reaches(s), s).toBe(true);
  });
});

describe('phase 1 decision', () => {
  it('commits only when every participant voted yes', () => {
    expect(decideAfterVotes([yes, yes])).toBe('commit');
    for (const other of [no, error, timeout]) {
      expect(decideAfterVotes([yes, other])).toBe('abort');
      expect(decideAfterVotes([other, yes])).toBe('abort');
    }
    expect(decideAfterVotes([])).toBe('abort');
  });

  it('maps votes to participant states and names the first refusal', () => {
    expect([yes, no, error, timeout].map(stateAfterVote)).toEqual(['Prepared', 'VotedNo', 'Failed', 'Failed']);
    expect(abortReason([{ name: 'audit', vote: yes }, { name: 'model', vote: no }])).toBe('model voted no: model m1 is reserved for training');
    expect(abortReason([{ name: 'model', vote: timeout }])).toBe('model did not vote within 5000 ms');
    expect(abortReason([{ name: 'model', vote: error }])).toBe('model failed to prepare: connection refused');
    expect(abortReason([{ name: 'model', vote: yes }])).toBeNull();
  });

  it('moves transaction and participants together on the decision and at the end', () => {
    expect(statesOnDecision('commit')).toEqual({ transaction: 'Committing', participant: 'Committing' });
    expect(statesOnDecision('abort')).toEqual({ transaction: 'Aborting', participant: 'Aborting' });
    expect(statesWhenDone('commit')).toEqual({ transaction: 'Committed', participant: 'Committed' });
    expect(statesWhenDone('abort')).toEqual({ transaction: 'Aborted', participant: 'Aborted' });
  });
});

describe('recovery of in-doubt transactions (presumed abort)', () => {
  const decisions: (Decision | null)[] = ['commit', 'abort', null];
  it('carries out a logged decision in every case', () => {
    for (const decision of ['commit', 'abort'] as const) {
      for (const ownerAlive of [true, false]) {
        for (const ageMs of [0, 1_000_000]) {
          expect(recoveryAction({ logged: { state: decision === 'commit' ? 'Committing' : 'Aborting', decision, ageMs }, ownerAlive, decisionTimeoutMs: 60_000 })).toBe(decision);
        }
      }
    }
  });

  it('aborts what the log does not know, whatever else holds', () => {
    for (const ownerAlive of [true, false]) expect(recoveryAction({ logged: undefined, ownerAlive, decisionTimeoutMs: 60_000 })).toBe('abort');
  });

  it('aborts an undecided transaction whose coordinator is gone, and leaves a live one alone until the decision timeout', () => {
    for (const state of ['Created', 'Preparing', 'Prepared'] as const) {
      expect(recoveryAction({ logged: { state, decision: null, ageMs: 0 }, ownerAlive: false, decisionTimeoutMs: 60_000 })).toBe('abort');
      expect(recoveryAction({ logged: { state, decision: null, ageMs: 59_999 }, ownerAlive: true, decisionTimeoutMs: 60_000 })).toBe('leave');
      expect(recoveryAction({ logged: { state, decision: null, ageMs: 60_001 }, ownerAlive: true, decisionTimeoutMs: 60_000 })).toBe('abort');
    }
  });

  it('never commits without a logged commit', () => {
    for (const decision of decisions) {
      for (const ownerAlive of [true, false]) {
        for (const ageMs of [0, 10, 1e9]) {
          const action = recoveryAction({ logged: { state: 'Prepared', decision, ageMs }, ownerAlive, decisionTimeoutMs: 100 });
          if (action === 'commit') expect(decision).toBe('commit');
        }
      }
    }
  });
});

describe('global ids', () => {
  it('round-trips and refuses what recovery could not parse back', () => {
    const gid = globalId('tx-1', 'payments');
    expect(gid).toBe('sagaline_2pc:tx-1:payments');
    expect(parseGlobalId(gid)).toEqual({ txId: 'tx-1', participant: 'payments' });
    expect(parseGlobalId('other:tx-1:model')).toBeUndefined();
    expect(parseGlobalId('sagaline_2pc:tx-1')).toBeUndefined();
    expect(parseGlobalId('sagaline_2pc:a:b:c')).toBeUndefined();
    expect(() => globalId('tx:1', 'model')).toThrow(/transaction id/);
    expect(() => globalId('tx', "m'; drop")).toThrow(/participant name/);
  });
});
