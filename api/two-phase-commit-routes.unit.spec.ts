/** The two-phase commit endpoints' request checks: refused before any database is touched. */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { UPDATE_MODEL_ACTIONS } from '../coordinator/update-model.ts';
import { buildApi } from './server.ts';

const app = buildApi(loadConfig({}), { logger: pino({ level: 'silent' }), twoPhaseCommitActions: UPDATE_MODEL_ACTIONS });
afterAll(() => app.close());

const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

describe('POST /2pc/transactions and participants', () => {
  it('refuses an unknown action, a bad name and unknown fields with a 400 naming the field', async () => {
    const unknownAction = await post('/2pc/transactions', { participants: [{ name: 'm', database: 'model_service', action: 'drop_everything', params: {} }] });
    expect(unknownAction.statusCode).toBe(400);
    expect(unknownAction.json().error.code).toBe('REQUEST_INVALID');
    expect(unknownAction.json().error.message).toMatch(/action/);

    const badName = await post('/2pc/transactions', { txId: 'a:b' });
    expect(badName.statusCode).toBe(400);
    expect(badName.json().error.message).toMatch(/txId/);

    const extra = await post('/2pc/transactions/tx-1/participants', { name: 'm', database: 'model_service', action: 'update_model.audit', params: {}, vote: 'yes' });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.message).toMatch(/vote/);
  });

  it('takes at most 4 participants', async () => {
    const p = { name: 'm', database: 'model_service', action: 'update_model.audit', params: {} };
    const res = await post('/2pc/transactions', { participants: [p, p, p, p, p] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/participants/);
  });
});

describe('an API given no two-phase commit actions', () => {
  it('refuses every participant with a 400 saying so, before any database is touched', async () => {
    // Given an API built without actions (nothing here runs a database: a coordinator it started would fail)
    const bare = buildApi(loadConfig({}), { logger: pino({ level: 'silent' }) });
    try {
      // When a transaction names an action
      const res = await bare.inject({ method: 'POST', url: '/2pc/transactions', payload: { participants: [{ name: 'm', database: 'model_service', action: 'update_model.audit', params: {} }] } });
      // Then it is refused, naming the field and why
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toEqual({ code: 'REQUEST_INVALID', message: 'participants[0].action: unknown participant action "update_model.audit" (known: none: no two-phase commit actions were given)' });
    } finally {
      await bare.close();
    }
  });
});
