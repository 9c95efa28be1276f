/**
 * The two-phase commit coordinator over Postgres prepared transactions.
 *
 * Phase 1 runs every participant's action in its own database and `PREPARE TRANSACTION`s it under
 * a global id, all in parallel, within a deadline; a no, an error or no vote in time aborts. The
 * decision is committed to the log (log.ts) before phase 2, which commits or rolls back every
 * participant, retrying until each is done. On start, and then periodically, recovery resolves
 * what is in doubt (states.ts `recoveryAction`: a logged decision is carried out; otherwise
 * presumed abort).
 *
 * Liveness of a running transaction: its coordinator holds a session advisory lock on it until the
 * decision. A coordinator that dies (even by SIGKILL) loses its session and so the lock; recovery
 * sees that and aborts. Correctness does not depend on the lock: the decision is written once.
 */
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { databaseUrlFor, ENGINE_DATABASE, type Config } from '../core/config.ts';
import { ConfigError, SagalineError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../schemas/contracts.ts';
import type { CatalogueTopic } from '../topics/catalogue.ts';
import {
  insertParticipant, insertTransaction, LOG_DDL, logDecision, moveTransaction, openTransactionIds, readTransaction, setParticipant,
  TransactionNotFoundError, type ParticipantRecord, type ParticipantSpec, type TransactionRecord,
} from './log.ts';
import {
  abortReason, decideAfterVotes, GID_PREFIX, globalId, isValidName, parseGlobalId, recoveryAction, stateAfterVote, statesWhenDone,
  type Decision, type Vote,
} from './states.ts';
import { actionNamed, type ActionRegistry, type ParticipantAction } from './actions.ts';

export class TransactionStateError extends SagalineError {
  constructor(message: string) {
    super('TRANSACTION_STATE', message);
  }
}

/** Points where a test or demo can step in (a crash, a participant going away). */
export interface CoordinatorHooks {
  /** Every participant has voted, nothing is decided yet. */
  beforeDecision?(txId: string, votes: Vote[]): Promise<void>;
  /** The decision is in the log, phase 2 has not started. */
  afterDecision?(txId: string, decision: Decision): Promise<void>;
}

export interface CoordinatorOptions {
  log: Logger;
  /** The participant actions this coordinator may run, by name. */
  actions: ActionRegistry;
  /** How to reach a participant's database (default: that database on the configured server). */
  participantUrl?: (database: string) => string;
  hooks?: CoordinatorHooks;
  /** Run recovery when starting (default true). */
  recoverOnStart?: boolean;
  /**
   * Where the actions' messages go: the project's schemas folder and the topics that carry what
   * the actions `write` (a project's streams, topics/derived.ts). Needed only by actions that write.
   */
  outbox?: { schemas: string; topics: readonly CatalogueTopic[] };
}

export interface RecoveryReport {
  resolved: { txId: string; decision: Decision }[];
  left: string[];
  /** Prepared transactions of ours found in participants that the log did not know: rolled back. */
  orphansRolledBack: string[];
}

const LOCK_CLASS = 'sagaline_2pc';

function connectedClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  // A participant that goes away must not take the coordinator with it.
  client.on('error', () => undefined);
  return client;
}

const quoteGid = (gid: string) => pg.escapeLiteral(gid);

export class Coordinator {
  readonly owner = `${hostname()}/${process.pid}/${Date.now().toString(36)}`;
  private writer: Promise<OutboxWriter> | undefined;
  private readonly ddlDone = new Set<string>();
  private readonly phase2 = new Map<string, Promise<TransactionRecord>>();
  private closed = false;

  private constructor(
    private readonly config: Config,
    private readonly pool: pg.Pool,
    /** Holds the advisory locks of the transactions this coordinator runs. */
    private readonly lease: pg.Client,
    private readonly options: CoordinatorOptions,
  ) {}

  static async start(config: Config, options: CoordinatorOptions): Promise<Coordinator> {
    const logUrl = databaseUrlFor(config, ENGINE_DATABASE);
    const pool = new pg.Pool({ connectionString: logUrl, max: 6 });
    pool.on('error', () => undefined);
    const lease = connectedClient(logUrl);
    try {
      await lease.connect();
      for (const statement of LOG_DDL) await lease.query(statement);
    } catch (err) {
      await lease.end().catch(() => undefined);
      await pool.end();
      throw err;
    }
    const coordinator = new Coordinator(config, pool, lease, options);
    if (options.recoverOnStart ?? true) await coordinator.recover();
    return coordinator;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.phase2.values()]);
    await this.lease.end().catch(() => undefined);
    await this.pool.end();
  }

  private url(database: string): string {
    return this.options.participantUrl?.(database) ?? databaseUrlFor(this.config, database);
  }

  private outboxWriter(): Promise<OutboxWriter> {
    const outbox = this.options.outbox;
    const writes = [...new Set(Object.values(this.options.actions).flatMap((a) => a.writes))];
    const missing = writes.filter((type) => !outbox?.topics.some((t) => t.messages.includes(type)));
    if (missing.length > 0) return Promise.reject(new ConfigError(`the two-phase commit actions write ${missing.join(', ')}, which no topic given to the coordinator carries (its \`outbox\` option: a stream of the project for them)`));
    this.writer ??= OutboxWriter.create(this.config.schemaRegistry, loadContracts((outbox as { schemas: string }).schemas), {
      topics: (outbox as { topics: readonly CatalogueTopic[] }).topics.filter((t) => t.messages.some((m) => writes.includes(m))),
    }).catch((err: unknown) => {
      this.writer = undefined;
      throw err;
    });
    return this.writer;
  }

  private async lock(txId: string): Promise<void> {
    await this.lease.query('select pg_advisory_lock(hashtext($1), hashtext($2))', [LOCK_CLASS, txId]);
  }

  private async unlock(txId: string): Promise<void> {
    await this.lease.query('select pg_advisory_unlock(hashtext($1), hashtext($2))', [LOCK_CLASS, txId]).catch(() => undefined);
  }

  /** Whether some coordinator session still holds the transaction (probed from a session of its own). */
  private async ownerAlive(txId: string): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      const got = (await client.query('select pg_try_advisory_lock(hashtext($1), hashtext($2)) as got', [LOCK_CLASS, txId])).rows[0].got as boolean;
      if (got) await client.query('select pg_advisory_unlock(hashtext($1), hashtext($2))', [LOCK_CLASS, txId]);
      return !got;
    } finally {
      client.release();
    }
  }

  async status(txId: string): Promise<TransactionRecord> {
    const tx = await readTransaction(this.pool, txId);
    if (!tx) throw new TransactionNotFoundError(txId);
    return tx;
  }

  /** A new transaction in state Created, held by this coordinator until it is decided. */
  async create(txId: string, operation: string, participants: readonly ParticipantSpec[] = []): Promise<TransactionRecord> {
    if (!isValidName(txId)) throw new SagalineError('REQUEST_INVALID', `transaction id must be 1–63 letters, digits or . _ - , got "${txId}"`);
    if (!isValidName(operation)) throw new SagalineError('REQUEST_INVALID', `operation must be 1–63 letters, digits or . _ - , got "${operation}"`);
    await this.lock(txId);
    try {
      await insertTransaction(this.pool, txId, operation, this.owner);
    } catch (err) {
      await this.unlock(txId);
      if ((err as { code?: string }).code === '23505') throw new SagalineError('CONFLICT', `transaction ${txId} already exists`);
      throw err;
    }
    for (const p of participants) await this.addParticipant(txId, p);
    return this.status(txId);
  }

  async addParticipant(txId: string, spec: ParticipantSpec): Promise<TransactionRecord> {
    actionNamed(this.options.actions, spec.action);
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(spec.database)) throw new SagalineError('REQUEST_INVALID', `database must be a lowercase Postgres name, got "${spec.database}"`);
    const gid = globalId(txId, spec.name);
    const tx = await this.status(txId);
    if (tx.state !== 'Created') throw new TransactionStateError(`participants can only be added to a Created transaction; ${txId} is ${tx.state}`);
    if (tx.participants.length >= 4) throw new TransactionStateError('two-phase commit takes at most 4 participants (see `sagaline pattern`)');
    try {
      await insertParticipant(this.pool, txId, spec, gid);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new SagalineError('CONFLICT', `transaction ${txId} already has a participant ${spec.name}`);
      throw err;
    }
    return this.status(txId);
  }

  /** Phase 1. Ends Prepared (every vote yes, decision pending) or, on any other vote, Aborted (or Aborting while a participant is out of reach). */
  async prepare(txId: string): Promise<TransactionRecord> {
    const tx = await this.status(txId);
    if (!(await moveTransaction(this.pool, txId, ['Created'], 'Preparing'))) throw new TransactionStateError(`only a Created transaction can be prepared; ${txId} is ${tx.state}`);
    const timeoutMs = this.config.twoPhaseCommit.prepareTimeoutMs;
    const votes = await Promise.all(tx.participants.map((p) => this.prepareOne(txId, p, timeoutMs)));
    await this.options.hooks?.beforeDecision?.(txId, votes);
    if (decideAfterVotes(votes) === 'commit') {
      await moveTransaction(this.pool, txId, ['Preparing'], 'Prepared');
      const after = await this.status(txId);
      // A recovery may have aborted it meanwhile (decision timeout): then carry that out.
      if (after.decision === 'abort') return this.finish(txId);
      return after;
    }
    const reason = abortReason(tx.participants.map((p, i) => ({ name: p.name, vote: votes[i]! })));
    await this.decide(txId, 'abort', reason);
    return this.finish(txId);
  }

  /** Prepares one participant; never throws: every failure is a vote. */
  private async prepareOne(txId: string, p: ParticipantRecord, timeoutMs: number): Promise<Vote> {
    await setParticipant(this.pool, txId, p.name, 'Preparing');
    const client = connectedClient(this.url(p.database));
    let timer: NodeJS.Timeout | undefined;
    const work = this.runAction(client, txId, p);
    const timeout = new Promise<Vote>((resolve) => (timer = setTimeout(() => resolve({ kind: 'timeout', afterMs: timeoutMs }), timeoutMs)));
    let vote = await Promise.race([work, timeout]);
    clearTimeout(timer);
    if (vote.kind === 'timeout') {
      // Stop the straggler for good: end its session on the server and wait until it is gone, so a
      // PREPARE still in flight either happened (phase 2 rolls it back) or never will.
      await this.terminateBackend(p.database, (client as unknown as { processID?: number }).processID).catch(() => undefined);
      work.catch(() => undefined);
    }
    await client.end().catch(() => undefined);
    if (vote.kind === 'yes' && this.closed) vote = { kind: 'error', error: 'coordinator closing' };
    const error = vote.kind === 'no' ? vote.reason : vote.kind === 'error' ? vote.error : vote.kind === 'timeout' ? `no vote within ${vote.afterMs} ms` : null;
    await setParticipant(this.pool, txId, p.name, stateAfterVote(vote), { vote: vote.kind, error });
    this.options.log.info({ txId, participant: p.name, vote: vote.kind, ...(error ? { error } : {}) }, '2pc vote');
    return vote;
  }

  private async runAction(client: pg.Client, txId: string, p: ParticipantRecord): Promise<Vote> {
    const action: ParticipantAction | undefined = Object.hasOwn(this.options.actions, p.action) ? this.options.actions[p.action] : undefined;
    if (!action) return { kind: 'error', error: `unknown action ${p.action}` };
    try {
      const writer = await this.outboxWriter();
      await client.connect();
      if (!this.ddlDone.has(`${p.database}/${p.action}`)) {
        for (const statement of action.ddl) await client.query(statement);
        this.ddlDone.add(`${p.database}/${p.action}`);
      }
      await client.query('begin');
      const result = await action.run(client, { txId, params: p.params, writer });
      if (result.vote === 'no') {
        await client.query('rollback');
        return { kind: 'no', reason: result.reason };
      }
      await client.query(`prepare transaction ${quoteGid(p.gid)}`);
      return { kind: 'yes' };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      return { kind: 'error', error: (err as Error).message };
    }
  }

  private async terminateBackend(database: string, pid: number | undefined): Promise<void> {
    if (!pid) return;
    const admin = connectedClient(this.url(database));
    try {
      await admin.connect();
      await admin.query('select pg_terminate_backend($1, 5000)', [pid]);
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  /** Writes the decision (once). Returns the one that holds. */
  private async decide(txId: string, decision: Decision, reason: string | null): Promise<Decision> {
    const from = decision === 'commit' ? (['Prepared'] as const) : (['Created', 'Preparing', 'Prepared'] as const);
    const held = await logDecision(this.pool, txId, decision, from, reason);
    if (held === undefined) {
      const tx = await this.status(txId);
      throw new TransactionStateError(`cannot ${decision} transaction ${txId} in state ${tx.state}`);
    }
    if (held !== decision) {
      await this.finish(txId).catch(() => undefined);
      throw new TransactionStateError(`cannot ${decision} transaction ${txId}: it is already decided to ${held}`);
    }
    this.options.log.info({ txId, decision: held, ...(reason ? { reason } : {}) }, '2pc decision logged');
    await this.unlock(txId);
    await this.options.hooks?.afterDecision?.(txId, held);
    return held;
  }

  /** Commits a Prepared transaction (decision, then phase 2). */
  async commit(txId: string): Promise<TransactionRecord> {
    await this.decide(txId, 'commit', null);
    return this.finish(txId);
  }

  /** Aborts a transaction that is not decided yet (or finishes an abort already decided). */
  async abort(txId: string, reason = 'aborted on request'): Promise<TransactionRecord> {
    await this.decide(txId, 'abort', reason);
    return this.finish(txId);
  }

  /** Prepare, then commit if every participant voted yes. */
  async run(txId: string): Promise<TransactionRecord> {
    const prepared = await this.prepare(txId);
    if (prepared.state !== 'Prepared') return prepared;
    return this.commit(txId);
  }

  /** Phase 2 for a decided transaction, until every participant is done. One run per transaction at a time. */
  finish(txId: string): Promise<TransactionRecord> {
    let running = this.phase2.get(txId);
    if (!running) {
      running = this.phase2Loop(txId).finally(() => this.phase2.delete(txId));
      this.phase2.set(txId, running);
    }
    return running;
  }

  private async phase2Loop(txId: string): Promise<TransactionRecord> {
    const tx = await this.status(txId);
    const decision = tx.decision;
    if (!decision) throw new TransactionStateError(`transaction ${txId} has no decision yet`);
    const done = statesWhenDone(decision);
    await Promise.all(
      tx.participants.map(async (p) => {
        if (p.state === done.participant) return;
        for (let attempt = 1; ; attempt++) {
          try {
            await this.finishOne(p, decision);
            await setParticipant(this.pool, txId, p.name, done.participant);
            return;
          } catch (err) {
            if (this.closed) throw err;
            this.options.log.warn({ txId, participant: p.name, decision, attempt, err: (err as Error).message }, '2pc phase 2: participant not finished yet, retrying');
            await delay(this.config.twoPhaseCommit.retryIntervalMs);
          }
        }
      }),
    );
    await moveTransaction(this.pool, txId, [decision === 'commit' ? 'Committing' : 'Aborting'], done.transaction, { finished: true });
    this.options.log.info({ txId, state: done.transaction }, '2pc transaction finished');
    return this.status(txId);
  }

  /** COMMIT PREPARED / ROLLBACK PREPARED if the participant still holds the prepared transaction. */
  private async finishOne(p: ParticipantRecord, decision: Decision): Promise<void> {
    const client = connectedClient(this.url(p.database));
    try {
      await client.connect();
      const found = (await client.query('select 1 from pg_prepared_xacts where gid = $1 and database = current_database()', [p.gid])).rowCount ?? 0;
      if (found === 0) return; // already finished (or, on abort, never prepared)
      await client.query(`${decision === 'commit' ? 'commit' : 'rollback'} prepared ${quoteGid(p.gid)}`);
    } catch (err) {
      // Another coordinator finished it between our look and our command.
      if ((err as { code?: string }).code === '42704') return;
      throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Prepared transactions of this coordinator's prefix, across the server: gid → database. */
  async preparedTransactions(txId?: string): Promise<{ gid: string; database: string }[]> {
    const pattern = txId === undefined ? `${GID_PREFIX}%` : `${GID_PREFIX}${txId}:%`;
    const { rows } = await this.pool.query('select gid, database from pg_prepared_xacts where gid like $1 order by gid', [pattern]);
    return rows as { gid: string; database: string }[];
  }

  /**
   * Resolves what is in doubt: every unfinished transaction in the log and every prepared
   * transaction with our prefix found in the participants. A transaction this coordinator is
   * running itself is left to it.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { resolved: [], left: [], orphansRolledBack: [] };
    const prepared = await this.preparedTransactions();
    const ids = new Set(await openTransactionIds(this.pool));
    for (const { gid } of prepared) {
      const parsed = parseGlobalId(gid);
      if (parsed) ids.add(parsed.txId);
    }
    for (const txId of ids) {
      if (this.phase2.has(txId)) continue;
      const tx = await readTransaction(this.pool, txId);
      const action = recoveryAction({
        logged: tx ? { state: tx.state, decision: tx.decision, ageMs: tx.ageMs } : undefined,
        ownerAlive: tx ? await this.ownerAlive(txId) : false,
        decisionTimeoutMs: this.config.twoPhaseCommit.decisionTimeoutMs,
      });
      if (action === 'leave') {
        report.left.push(txId);
        continue;
      }
      if (!tx) {
        // Unknown to the log: nothing can have decided commit (presumed abort).
        for (const orphan of prepared.filter((x) => parseGlobalId(x.gid)?.txId === txId)) {
          const client = connectedClient(this.url(orphan.database));
          try {
            await client.connect();
            await client.query(`rollback prepared ${quoteGid(orphan.gid)}`);
            report.orphansRolledBack.push(orphan.gid);
          } finally {
            await client.end().catch(() => undefined);
          }
        }
        continue;
      }
      let decision = tx.decision;
      if (decision === null) {
        const reason = tx.ageMs > this.config.twoPhaseCommit.decisionTimeoutMs ? 'no decision within the decision timeout (presumed abort)' : 'coordinator gone before deciding (presumed abort)';
        decision = (await logDecision(this.pool, txId, 'abort', ['Created', 'Preparing', 'Prepared'], reason)) ?? null;
        if (decision === null) {
          report.left.push(txId);
          continue;
        }
        this.options.log.info({ txId, decision, reason }, '2pc recovery logged a decision');
      }
      // Participants prepared under this transaction that the log does not list (cannot happen
      // through this coordinator, but a gid is a gid): presumed abort.
      for (const extra of prepared.filter((x) => parseGlobalId(x.gid)?.txId === txId && !tx.participants.some((p) => p.gid === x.gid))) {
        const client = connectedClient(this.url(extra.database));
        try {
          await client.connect();
          await client.query(`rollback prepared ${quoteGid(extra.gid)}`);
          report.orphansRolledBack.push(extra.gid);
        } finally {
          await client.end().catch(() => undefined);
        }
      }
      await this.finish(txId);
      if (tx.owner === this.owner) await this.unlock(txId);
      report.resolved.push({ txId, decision });
      this.options.log.info({ txId, decision }, '2pc recovery resolved a transaction');
    }
    return report;
  }
}
