/**
 * The shell around a participant's pure decisions. For each message, in one local transaction:
 * skip it if its id is in the inbox; fold it into the saga's view; load the facts the decision
 * needs; apply the decided business changes; write the decided messages to the outbox; fold those
 * in too (and decide again, for chains inside one service); record the message id; commit.
 * At-least-once delivery thus has exactly-once effects.
 */
import { randomUUID } from 'node:crypto';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/log.ts';
import type { OutboxWriter, OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import { EVENT_LOG_TOPICS } from '../../topics/catalogue.ts';
import type { Decision, DecisionContext, Incoming } from '../saga/decision.ts';
import { evolve, initialState, type SagaState } from '../saga/state.ts';
import { runDecodingConsumer, type RunningConsumer } from './consumer.ts';
import type { DecodedMessage } from './decode.ts';
import { SagalineError } from '../../core/errors.ts';
import { attemptsAllowed, giveUp, retryTarget, targetKey, type RetryTarget } from '../saga/give-up.ts';
import { backoffMs, isTransient } from './transient.ts';
import { startPoller } from '../../core/poller.ts';
import { countConsumed, countPublished, timed, type ProcessorMetrics } from './metrics.ts';
import { inTransaction } from '../../core/transaction.ts';
export { inTransaction };

export const RUNTIME_DDL = [
  `create table if not exists inbox (
     message_id   uuid primary key,
     saga_id      text not null,
     type         text not null,
     processed_at timestamptz not null default now())`,
  `create table if not exists saga_views (
     saga_id    text primary key,
     state      jsonb not null,
     updated_at timestamptz not null default now())`,
  // Messages waiting for a retry after a transient failure, and the ones of the same saga queued
  // behind them (so the saga's order holds while other sagas on the partition go on).
  `create table if not exists deferred_messages (
     seq        bigserial primary key,
     saga_id    text not null,
     message_id uuid not null unique,
     message    jsonb not null,
     attempts   int not null default 0,
     next_at    timestamptz not null default now(),
     last_error text)`,
  `create index if not exists deferred_messages_saga on deferred_messages (saga_id, seq)`,
];

export interface ParticipantDefinition<F, C> {
  name: string;
  database: string;
  /** Business tables (idempotent DDL, run at start). */
  ddl: string[];
  loadFacts(client: pg.ClientBase, state: SagaState): Promise<F>;
  decide(state: SagaState, incoming: Incoming, facts: F, ctx: DecisionContext): Decision<C>;
  apply(client: pg.ClientBase, command: C): Promise<void>;
}

export interface ShellDeps {
  config: Config;
  pool: pg.Pool;
  writer: OutboxWriter;
  log: Logger;
  metrics: ProcessorMetrics;
}

export async function loadView(client: pg.ClientBase, sagaId: string): Promise<SagaState> {
  // Insert-then-lock: two messages of one new saga never both start from an empty view.
  await client.query('insert into saga_views (saga_id, state) values ($1, $2) on conflict do nothing', [sagaId, initialState(sagaId)]);
  const { rows } = await client.query<{ state: SagaState }>('select state from saga_views where saga_id = $1 for update', [sagaId]);
  return rows[0]!.state;
}

export async function saveView(client: pg.ClientBase, state: SagaState): Promise<void> {
  await client.query('update saga_views set state = $2, updated_at = now() where saga_id = $1', [state.sagaId, state]);
}

export function context(): DecisionContext {
  return { now: Date.now(), newId: randomUUID };
}

/** Decide, apply, publish, fold own messages in — until the decision has nothing more to do. */
export async function decideAndAct<F, C>(
  client: pg.ClientBase,
  participant: Pick<ParticipantDefinition<F, C>, 'loadFacts' | 'apply'>,
  writer: OutboxWriter,
  initial: SagaState,
  decide: (state: SagaState, facts: F, ctx: DecisionContext) => Decision<C>,
  beforeActing?: (decision: Decision<C>, state: SagaState) => void,
): Promise<{ state: SagaState; published: OutgoingMessage[] }> {
  let state = initial;
  const published: OutgoingMessage[] = [];
  for (let round = 0; round < 10; round++) {
    const ctx = context();
    const decision = decide(state, await participant.loadFacts(client, state), ctx);
    if (decision.commands.length === 0 && decision.messages.length === 0) break;
    beforeActing?.(decision, state);
    for (const command of decision.commands) await participant.apply(client, command);
    for (const message of decision.messages) {
      await writer.publish(client, message);
      published.push(message);
      state = evolve(state, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: ctx.now });
    }
  }
  return { state, published };
}


/** The request's simulated transient failures: attempt `attempt` of what the decision does fails if it is within the count. */
function simulatedTransientFailure(attempt: number) {
  return (decision: Decision<unknown>, state: SagaState): void => {
    const target = retryTarget(decision.messages);
    if (!target) return;
    const failing = state.request?.config.simulation?.transientFailures?.[targetKey(target)] ?? 0;
    if (attempt <= failing) {
      throw new SagalineError('SIMULATED_TRANSIENT', `simulated transient failure at ${targetKey(target)} (attempt ${attempt}; the first ${failing} fail)`, { retriable: true });
    }
  };
}

/** One attempt at a message, in one transaction. With `deferredSeq`, the deferred row goes in the same transaction. */
async function attempt<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>, message: DecodedMessage, attemptNo: number, deferredSeq?: string): Promise<'handled' | 'duplicate'> {
  const sagaId = message.metadata.sagaId;
  const { outcome, published } = await inTransaction(deps.pool, async (client) => {
    if (deferredSeq !== undefined) await client.query('delete from deferred_messages where seq = $1', [deferredSeq]);
    const fresh = await client.query('insert into inbox (message_id, saga_id, type) values ($1, $2, $3) on conflict do nothing', [message.metadata.messageId, sagaId, message.type]);
    if (fresh.rowCount === 0) return { outcome: 'duplicate' as const, published: [] };
    const before = await loadView(client, sagaId);
    const folded = evolve(before, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: message.kafka.timestamp });
    const incoming: Incoming = { type: message.type, payload: message.payload, metadata: message.metadata };
    const { state, published } = await decideAndAct(client, participant, deps.writer, folded, (s, facts, ctx) => participant.decide(s, incoming, facts, ctx), simulatedTransientFailure(attemptNo));
    await saveView(client, state);
    deps.log.info({ sagaId, messageId: message.metadata.messageId, type: message.type, service: participant.name, attempt: attemptNo, published: published.map((m) => m.type), sagaStatus: state.status }, 'handled');
    return { outcome: 'handled' as const, published };
  });
  countPublished(deps.metrics, published);
  return outcome;
}

async function defer(pool: pg.Pool, message: DecodedMessage, attempts: number, error: unknown): Promise<void> {
  const delayMs = attempts === 0 ? 0 : backoffMs(attempts, Math.random);
  await pool.query(
    `insert into deferred_messages (saga_id, message_id, message, attempts, next_at, last_error)
     values ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000), $6) on conflict (message_id) do nothing`,
    [message.metadata.sagaId, message.metadata.messageId, message, attempts, delayMs, error ? String((error as Error).message ?? error) : null],
  );
}

/**
 * Handles a message from the consumer. A transient failure does not hold up the partition: the
 * message is deferred with a backoff, and later messages of the same saga queue behind it.
 */
export async function handleMessage<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>, message: DecodedMessage): Promise<'handled' | 'duplicate' | 'deferred'> {
  const sagaId = message.metadata.sagaId;
  const queued = await deps.pool.query('select 1 from deferred_messages where saga_id = $1 limit 1', [sagaId]);
  if ((queued.rowCount ?? 0) > 0) {
    await defer(deps.pool, message, 0, null);
    return 'deferred';
  }
  try {
    return await attempt(deps, participant, message, 1);
  } catch (err) {
    if (!isTransient(err)) throw err;
    deps.log.warn({ sagaId, messageId: message.metadata.messageId, service: participant.name, err: (err as Error).message, attempt: 1 }, 'transient failure; deferred for a retry');
    await defer(deps.pool, message, 1, err);
    return 'deferred';
  }
}

/** What the decision for this message would do, without doing it (to know which step's retry limit applies). */
async function dryRunTarget<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>, message: DecodedMessage) {
  const client = await deps.pool.connect();
  try {
    await client.query('begin');
    const view = await loadView(client, message.metadata.sagaId);
    const state = evolve(view, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: message.kafka.timestamp });
    const incoming: Incoming = { type: message.type, payload: message.payload, metadata: message.metadata };
    return retryTarget(participant.decide(state, incoming, await participant.loadFacts(client, state), context()).messages);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

/** Retries the deferred messages that are due, oldest first per saga; gives up after the step's limit. */
export async function retryDeferred<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>): Promise<number> {
  const heads = (
    await deps.pool.query(
      `select seq::text, message, attempts, last_error from deferred_messages d
        where next_at <= now() and seq = (select min(seq) from deferred_messages e where e.saga_id = d.saga_id)
        order by seq limit 50`,
    )
  ).rows as { seq: string; message: DecodedMessage; attempts: number; last_error: string | null }[];
  for (const head of heads) {
    const attemptNo = head.attempts + 1;
    try {
      await attempt(deps, participant, head.message, attemptNo, head.seq);
    } catch (err) {
      const sagaId = head.message.metadata.sagaId;
      if (!isTransient(err)) {
        // A bug is never retried: the saga waits here, its error visible, until someone looks.
        deps.log.error({ sagaId, messageId: head.message.metadata.messageId, service: participant.name, err: (err as Error).message }, 'message failed with a non-transient error; parked');
        await deps.pool.query("update deferred_messages set next_at = 'infinity', last_error = $2 where seq = $1", [head.seq, `not retried: ${(err as Error).message}`]);
        continue;
      }
      // If even the dry run fails (the database is down), the limit is not judged now: retry later.
      const target = await dryRunTarget(deps, participant, head.message).catch(() => undefined);
      if (target && attemptNo >= attemptsAllowed(target)) {
        await exhaust(deps, participant, head.message, head.seq, target, attemptNo, (err as Error).message);
        continue;
      }
      deps.log.warn({ sagaId, messageId: head.message.metadata.messageId, service: participant.name, err: (err as Error).message, attempt: attemptNo }, 'transient failure; retrying later');
      await deps.pool.query(
        'update deferred_messages set attempts = $2, next_at = now() + make_interval(secs => $3::double precision / 1000), last_error = $4 where seq = $1',
        [head.seq, attemptNo, backoffMs(attemptNo, Math.random), (err as Error).message],
      );
    }
  }
  return heads.length;
}

/** Retries ran out: the step reports its failure, or the compensation reports CompensationFailed. */
async function exhaust<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>, message: DecodedMessage, seq: string, target: RetryTarget, attempts: number, lastError: string): Promise<void> {
  const sagaId = message.metadata.sagaId;
  const published = await inTransaction(deps.pool, async (client) => {
    await client.query('delete from deferred_messages where seq = $1', [seq]);
    const fresh = await client.query('insert into inbox (message_id, saga_id, type) values ($1, $2, $3) on conflict do nothing', [message.metadata.messageId, sagaId, message.type]);
    if (fresh.rowCount === 0) return [];
    const view = await loadView(client, sagaId);
    let state = evolve(view, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: message.kafka.timestamp });
    const ctx = context();
    const verdict = giveUp(state, { type: message.type, payload: message.payload, metadata: message.metadata }, target, attempts, lastError, ctx);
    await deps.writer.publish(client, verdict);
    state = evolve(state, { type: verdict.type, payload: verdict.payload, messageId: verdict.metadata.messageId, at: ctx.now });
    await saveView(client, state);
    deps.log.warn({ sagaId, messageId: message.metadata.messageId, service: participant.name, step: target.step, compensation: target.compensation, attempts, published: [verdict.type] }, 'retries exhausted');
    return [verdict];
  });
  countPublished(deps.metrics, published);
}

export async function runParticipant<F, C>(
  deps: ShellDeps & { kafka: Kafka; registry: SchemaRegistry },
  participant: ParticipantDefinition<F, C>,
): Promise<RunningConsumer> {
  const client = await deps.pool.connect();
  try {
    for (const statement of [...RUNTIME_DDL, ...participant.ddl]) await client.query(statement);
  } finally {
    client.release();
  }
  const consumer = await runDecodingConsumer({
    kafka: deps.kafka,
    registry: deps.registry,
    groupId: `sagaline-${participant.name}`,
    topics: EVENT_LOG_TOPICS.map((t) => t.name),
    fromBeginning: deps.config.saga.consumerStart === 'earliest',
    sessionTimeoutMs: deps.config.saga.sessionTimeoutMs,
    log: deps.log,
    handle: async (message) => {
      countConsumed(deps.metrics, message.kafka.topic, message.type);
      await timed(deps.metrics, () => handleMessage(deps, participant, message));
    },
  });
  const retries = startPoller('deferred message retries', deps.config.saga.timerPollMs, deps.log, () => retryDeferred(deps, participant));
  return {
    ...consumer,
    async stop() {
      await retries.stop();
      await consumer.stop();
    },
  };
}
