/**
 * The coordinator's durable log, in the `sagaline` database: one row per transaction (its state and
 * decision) and one per participant (its state, vote and error). The decision is one conditional
 * update (`where decision is null`), committed before phase 2 starts: whoever writes it first —
 * the coordinator running the transaction or a recovery — wins, and the other follows it.
 */
import type pg from 'pg';
import { SagalineError } from '../core/errors.ts';
import type { Decision, ParticipantState, TransactionState } from './states.ts';

export const LOG_DDL = [
  `create table if not exists tpc_transactions (
     tx_id       text primary key,
     operation   text not null,
     state       text not null check (state in ('Created', 'Preparing', 'Prepared', 'Committing', 'Committed', 'Aborting', 'Aborted')),
     decision    text check (decision in ('commit', 'abort')),
     reason      text,
     owner       text not null,
     created_at  timestamptz not null default now(),
     updated_at  timestamptz not null default now(),
     decided_at  timestamptz,
     finished_at timestamptz)`,
  `create table if not exists tpc_participants (
     tx_id      text not null references tpc_transactions,
     name       text not null,
     database   text not null,
     action     text not null,
     params     jsonb not null,
     gid        text not null unique,
     state      text not null check (state in ('Pending', 'Preparing', 'Prepared', 'VotedNo', 'Failed', 'Committing', 'Committed', 'Aborting', 'Aborted')),
     vote       text check (vote in ('yes', 'no', 'error', 'timeout')),
     error      text,
     added_at   timestamptz not null default now(),
     updated_at timestamptz not null default now(),
     primary key (tx_id, name))`,
  `create index if not exists tpc_transactions_open on tpc_transactions (state) where state not in ('Committed', 'Aborted')`,
];

export interface ParticipantSpec {
  /** Unique within the transaction; part of the global id. */
  name: string;
  /** The participant's database (on the configured server). */
  database: string;
  /** A registered participant action (see actions.ts). */
  action: string;
  params: Record<string, unknown>;
}

export interface ParticipantRecord extends ParticipantSpec {
  gid: string;
  state: ParticipantState;
  vote: 'yes' | 'no' | 'error' | 'timeout' | null;
  error: string | null;
}

export interface TransactionRecord {
  txId: string;
  operation: string;
  state: TransactionState;
  decision: Decision | null;
  reason: string | null;
  owner: string;
  createdAt: string;
  updatedAt: string;
  decidedAt: string | null;
  finishedAt: string | null;
  /** Milliseconds since the last change. */
  ageMs: number;
  participants: ParticipantRecord[];
}

export class TransactionNotFoundError extends SagalineError {
  constructor(txId: string) {
    super('NOT_FOUND', `no two-phase commit transaction ${txId}`);
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function readTransaction(db: pg.Pool | pg.ClientBase, txId: string): Promise<TransactionRecord | undefined> {
  const { rows } = await db.query(
    `select *, (extract(epoch from (now() - updated_at)) * 1000)::bigint as age_ms from tpc_transactions where tx_id = $1`,
    [txId],
  );
  const t = rows[0];
  if (!t) return undefined;
  const participants = (await db.query('select * from tpc_participants where tx_id = $1 order by added_at, name', [txId])).rows.map(
    (p): ParticipantRecord => ({ name: p.name, database: p.database, action: p.action, params: p.params, gid: p.gid, state: p.state, vote: p.vote, error: p.error }),
  );
  return {
    txId: t.tx_id,
    operation: t.operation,
    state: t.state,
    decision: t.decision,
    reason: t.reason,
    owner: t.owner,
    createdAt: iso(t.created_at)!,
    updatedAt: iso(t.updated_at)!,
    decidedAt: iso(t.decided_at),
    finishedAt: iso(t.finished_at),
    ageMs: Number(t.age_ms),
    participants,
  };
}

export async function insertTransaction(db: pg.Pool | pg.ClientBase, txId: string, operation: string, owner: string): Promise<void> {
  await db.query("insert into tpc_transactions (tx_id, operation, state, owner) values ($1, $2, 'Created', $3)", [txId, operation, owner]);
}

export async function insertParticipant(db: pg.Pool | pg.ClientBase, txId: string, spec: ParticipantSpec, gid: string): Promise<void> {
  await db.query("insert into tpc_participants (tx_id, name, database, action, params, gid, state) values ($1, $2, $3, $4, $5, $6, 'Pending')", [
    txId, spec.name, spec.database, spec.action, spec.params, gid,
  ]);
}

/** Moves the transaction from one of `from` to `to`; false when it was not in one of them. */
export async function moveTransaction(db: pg.Pool | pg.ClientBase, txId: string, from: readonly TransactionState[], to: TransactionState, extra: { reason?: string; finished?: boolean } = {}): Promise<boolean> {
  const res = await db.query(
    `update tpc_transactions set state = $3, reason = coalesce($4, reason), updated_at = now(), finished_at = case when $5 then now() else finished_at end
      where tx_id = $1 and state = any($2)`,
    [txId, from, to, extra.reason ?? null, extra.finished ?? false],
  );
  return (res.rowCount ?? 0) === 1;
}

export async function setParticipant(db: pg.Pool | pg.ClientBase, txId: string, name: string, state: ParticipantState, vote?: { vote: ParticipantRecord['vote']; error: string | null }): Promise<void> {
  await db.query(
    `update tpc_participants set state = $3, vote = coalesce($4, vote), error = coalesce($5, error), updated_at = now() where tx_id = $1 and name = $2`,
    [txId, name, state, vote?.vote ?? null, vote?.error ?? null],
  );
}

/**
 * Writes the decision, once: only if none is logged yet and the transaction is in one of `from`.
 * Returns the decision that holds afterwards (this one, or the one written before), or undefined
 * when there is none and this one could not be written (the transaction was not in `from`).
 */
export async function logDecision(pool: pg.Pool, txId: string, decision: Decision, from: readonly TransactionState[], reason: string | null): Promise<Decision | undefined> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const state = decision === 'commit' ? 'Committing' : 'Aborting';
    const res = await client.query(
      `update tpc_transactions set decision = $2, state = $3, reason = coalesce($4, reason), decided_at = now(), updated_at = now()
        where tx_id = $1 and decision is null and state = any($5)`,
      [txId, decision, state, reason, from],
    );
    if ((res.rowCount ?? 0) === 1) {
      await client.query('update tpc_participants set state = $2, updated_at = now() where tx_id = $1', [txId, state]);
      await client.query('commit');
      return decision;
    }
    await client.query('rollback');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  const existing = (await pool.query('select decision from tpc_transactions where tx_id = $1', [txId])).rows[0];
  if (!existing) throw new TransactionNotFoundError(txId);
  return existing.decision ?? undefined;
}

/** Transactions that are not finished yet. */
export async function openTransactionIds(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query("select tx_id from tpc_transactions where state not in ('Committed', 'Aborted') order by created_at");
  return rows.map((r) => r.tx_id as string);
}
