/** The two-phase commit endpoints' request checks: refused before any database is touched. */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import type { ActionRegistry } from '../coordinator/actions.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { buildApi } from './server.ts';

// An inline project and action registry: nothing here reaches a database.
const saga = defineSaga({ name: 'ledger-transfer', version: 1, startedBy: 'TransferRequested', steps: { DEBIT: { owner: 'ledger', succeeded: 'Debited', failed: 'DebitRefused' } } });
const served = { project: { file: '/p/sagaline.config.mjs', schemas: '/p/schemas', sagas: [saga], participants: [], streams: {} }, client: () => Promise.reject(new Error('not in this test')) };
const ACTIONS: ActionRegistry = {
  'ledger.post': { ddl: [], writes: [], run: async () => ({ vote: 'yes' }) },
  'ledger.audit': { ddl: [], writes: [], run: async () => ({ vote: 'yes' }) },
};
const app = buildApi(loadConfig({ SAGALINE_API_AUTH: 'none' }), served, { logger: pino({ level: 'silent' }), twoPhaseCommitActions: ACTIONS });
afterAll(() => app.close());

const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

describe('POST /2pc/transactions and participants', () => {
  it('refuses an unknown action, a bad name and unknown fields with a 400 naming the field', async () => {
    const unknownAction = await post('/2pc/transactions', { participants: [{ name: 'm', database: 'ledger', action: 'drop_everything', params: {} }] });
    expect(unknownAction.statusCode).toBe(400);
    expect(unknownAction.json().error.code).toBe('REQUEST_INVALID');
    expect(unknownAction.json().error.message).toMatch(/action/);

    const badName = await post('/2pc/transactions', { txId: 'a:b' });
    expect(badName.statusCode).toBe(400);
    expect(badName.json().error.message).toMatch(/txId/);

    const extra = await post('/2pc/transactions/tx-1/participants', { name: 'm', database: 'ledger', action: 'ledger.audit', params: {}, vote: 'yes' });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.message).toMatch(/vote/);
  });

  it('takes at most 4 participants', async () => {
    const p = { name: 'm', database: 'ledger', action: 'ledger.audit', params: {} };
    const res = await post('/2pc/transactions', { participants: [p, p, p, p, p] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/participants/);
  });
});

describe('an API given no two-phase commit actions', () => {
  it('refuses every participant with a 400 saying so, before any database is touched', async () => {
    // Given an API built without actions (nothing here runs a database: a coordinator it started would fail)
    const bare = buildApi(loadConfig({ SAGALINE_API_AUTH: 'none' }), served, { logger: pino({ level: 'silent' }) });
    try {
      // When a transaction names an action
      const res = await bare.inject({ method: 'POST', url: '/2pc/transactions', payload: { participants: [{ name: 'm', database: 'ledger', action: 'ledger.audit', params: {} }] } });
      // Then it is refused, naming the field and why
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toEqual({ code: 'REQUEST_INVALID', message: 'participants[0].action: unknown participant action "ledger.audit" (known: none: no two-phase commit actions were given)' });
    } finally {
      await bare.close();
    }
  });
});
