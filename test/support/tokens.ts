/** API tokens for tests that call the HTTP API: made as `sagaline tokens create` makes them. */
import { createToken, withTokenStore, type TokenGrant } from '../../api/tokens.ts';
import { loadConfig } from '../../core/config.ts';

/** A new token on the shared stack's sagas database (an operator's unless a grant is given). */
export async function apiToken(grant: TokenGrant = { role: 'operator', label: 'test' }, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return (await withTokenStore(loadConfig(env), (pool) => createToken(pool, grant))).token;
}

export const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });
