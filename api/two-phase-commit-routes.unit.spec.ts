/** The two-phase commit endpoints' request checks: refused before any database is touched. */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { buildApi } from './server.ts';

const app = buildApi(loadConfig({}), { logger: pino({ level: 'silent' }) });
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
