/**
 * API tokens: who may call the HTTP API and the UI. A token is bound to one tenant (it starts and
 * sees only that tenant's sagas) or to the operator role (everything, including operator actions,
 * two-phase commit and /metrics). Only a SHA-256 of each token is stored; the token itself is
 * shown once, when it is created. A revoked token fails at the next request: every request looks
 * its token up (one primary-key read), nothing is cached.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { ensureDatabase } from '../infra/provision.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';

export const TOKENS_DDL = `create table if not exists sagaline_api_tokens (
     id          text primary key,
     token_hash  bytea not null unique,
     role        text not null check (role in ('tenant', 'operator')),
     tenant_id   text,
     label       text not null default '',
     created_at  timestamptz not null default now(),
     revoked_at  timestamptz,
     check ((role = 'tenant') = (tenant_id is not null)))`;

/** Who a request acts as. */
export type Principal = { tokenId: string; role: 'operator' } | { tokenId: string; role: 'tenant'; tenantId: string };

/** What `tokens create` is given. */
export type TokenGrant = { role: 'operator'; label?: string } | { role: 'tenant'; tenantId: string; label?: string };

export interface TokenRow {
  id: string;
  role: 'tenant' | 'operator';
  tenantId: string | null;
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

const PREFIX = 'sgl';
const TOKEN_SHAPE = /^sgl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export class TokenError extends SagalineError {}

const hash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A new token: `sgl_<id>_<secret>`; the id is what `tokens list` and `tokens revoke` name. */
export function mintToken(): { id: string; token: string } {
  const id = randomBytes(6).toString('hex');
  return { id, token: `${PREFIX}_${id}_${randomBytes(32).toString('base64url')}` };
}

/**
 * The token of an `Authorization: Bearer <token>` header, or why there is none (the reason is
 * safe to answer with: it never repeats the header's value).
 */
export function bearerToken(header: string | string[] | undefined): { token: string } | { refused: string } {
  if (header === undefined || header === '') return { refused: 'no Authorization header: send "Authorization: Bearer <token>" (create one with `sagaline tokens create`)' };
  if (Array.isArray(header)) return { refused: 'more than one Authorization header' };
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return { refused: 'the Authorization header is not "Bearer <token>"' };
  if (!TOKEN_SHAPE.test(match[1]!)) return { refused: 'the bearer token is not a sagaline token (sgl_…)' };
  return { token: match[1]! };
}

/** Checks a grant before anything is written. */
export function checkGrant(grant: TokenGrant): void {
  if (grant.role === 'tenant' && (typeof grant.tenantId !== 'string' || grant.tenantId === '' || grant.tenantId.length > 200)) {
    throw new TokenError('TOKEN_INVALID', `a tenant token needs a tenant id of 1 to 200 characters, got ${JSON.stringify(grant.tenantId)}`);
  }
  if (grant.label !== undefined && grant.label.length > 200) throw new TokenError('TOKEN_INVALID', `a token's label is at most 200 characters, got ${grant.label.length}`);
}

export async function ensureTokenTable(pool: pg.Pool | pg.Client): Promise<void> {
  await pool.query(TOKENS_DDL);
}

/** Stores a new token's hash and returns the token: the only time it is seen. */
export async function createToken(pool: pg.Pool | pg.Client, grant: TokenGrant): Promise<TokenRow & { token: string }> {
  checkGrant(grant);
  await ensureTokenTable(pool);
  const { id, token } = mintToken();
  const tenantId = grant.role === 'tenant' ? grant.tenantId : null;
  const { rows } = await pool.query<{ created_at: Date }>('insert into sagaline_api_tokens (id, token_hash, role, tenant_id, label) values ($1, $2, $3, $4, $5) returning created_at', [
    id,
    hash(token),
    grant.role,
    tenantId,
    grant.label ?? '',
  ]);
  return { id, role: grant.role, tenantId, label: grant.label ?? '', createdAt: rows[0]!.created_at.toISOString(), revokedAt: null, token };
}

export async function listTokens(pool: pg.Pool | pg.Client): Promise<TokenRow[]> {
  await ensureTokenTable(pool);
  const { rows } = await pool.query<{ id: string; role: 'tenant' | 'operator'; tenant_id: string | null; label: string; created_at: Date; revoked_at: Date | null }>(
    'select id, role, tenant_id, label, created_at, revoked_at from sagaline_api_tokens order by created_at, id',
  );
  return rows.map((r) => ({ id: r.id, role: r.role, tenantId: r.tenant_id, label: r.label, createdAt: r.created_at.toISOString(), revokedAt: r.revoked_at?.toISOString() ?? null }));
}

/** Revokes a token by its id (or the whole token); a token revoked before stays revoked at its first time. */
export async function revokeToken(pool: pg.Pool | pg.Client, idOrToken: string): Promise<{ id: string; revokedAt: string }> {
  const id = TOKEN_SHAPE.exec(idOrToken)?.[1] ?? idOrToken;
  await ensureTokenTable(pool);
  const { rows } = await pool.query<{ revoked_at: Date }>('update sagaline_api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1 returning revoked_at', [id]);
  if (rows.length === 0) throw new TokenError('TOKEN_NOT_FOUND', `no token with id ${JSON.stringify(id)} (see \`sagaline tokens list\`)`);
  return { id, revokedAt: rows[0]!.revoked_at.toISOString() };
}

/** The principal of a live token, or null for an unknown or revoked one. */
export async function authenticate(pool: pg.Pool, token: string): Promise<Principal | null> {
  const { rows } = await pool
    .query<{ id: string; role: 'tenant' | 'operator'; tenant_id: string | null }>('select id, role, tenant_id from sagaline_api_tokens where token_hash = $1 and revoked_at is null', [hash(token)])
    .catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] }; // no token was ever created here
      throw err;
    });
  const row = rows[0];
  if (!row) return null;
  return row.role === 'operator' ? { tokenId: row.id, role: 'operator' } : { tokenId: row.id, role: 'tenant', tenantId: row.tenant_id! };
}

/** Runs `work` on the sagas database of `config` (created if missing), for the CLI and `npm start`. */
export async function withTokenStore<T>(config: Config, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  await ensureDatabase(config, SAGAS_DATABASE);
  const pool = pgPool(config, SAGAS_DATABASE, 1);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}
