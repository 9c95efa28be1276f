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
import { withRetries } from './transient.ts';

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
): Promise<{ state: SagaState; published: OutgoingMessage[] }> {
  let state = initial;
  const published: OutgoingMessage[] = [];
  for (let round = 0; round < 10; round++) {
    const ctx = context();
    const decision = decide(state, await participant.loadFacts(client, state), ctx);
    if (decision.commands.length === 0 && decision.messages.length === 0) break;
    for (const command of decision.commands) await participant.apply(client, command);
    for (const message of decision.messages) {
      await writer.publish(client, message);
      published.push(message);
      state = evolve(state, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: ctx.now });
    }
  }
  return { state, published };
}

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function handleMessage<F, C>(deps: ShellDeps, participant: ParticipantDefinition<F, C>, message: DecodedMessage): Promise<'handled' | 'duplicate'> {
  const sagaId = message.metadata.sagaId;
  return withRetries(`${participant.name} handling ${message.metadata.messageId}`, 5, () =>
    inTransaction(deps.pool, async (client) => {
      const fresh = await client.query('insert into inbox (message_id, saga_id, type) values ($1, $2, $3) on conflict do nothing', [message.metadata.messageId, sagaId, message.type]);
      if (fresh.rowCount === 0) return 'duplicate' as const;
      const before = await loadView(client, sagaId);
      const folded = evolve(before, { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: message.kafka.timestamp });
      const incoming: Incoming = { type: message.type, payload: message.payload, metadata: message.metadata };
      const { state, published } = await decideAndAct(client, participant, deps.writer, folded, (s, facts, ctx) => participant.decide(s, incoming, facts, ctx));
      await saveView(client, state);
      deps.log.info({ sagaId, messageId: message.metadata.messageId, type: message.type, service: participant.name, published: published.map((m) => m.type), sagaStatus: state.status }, 'handled');
      return 'handled' as const;
    }),
    (err, attempt, delayMs) => deps.log.warn({ sagaId, messageId: message.metadata.messageId, service: participant.name, err: (err as Error).message, attempt, delayMs }, 'transient failure; retrying'),
  );
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
  return runDecodingConsumer({
    kafka: deps.kafka,
    registry: deps.registry,
    groupId: `sagaline-${participant.name}`,
    topics: EVENT_LOG_TOPICS.map((t) => t.name),
    fromBeginning: deps.config.saga.consumerStart === 'earliest',
    sessionTimeoutMs: deps.config.saga.sessionTimeoutMs,
    log: deps.log,
    handle: async (message) => {
      await handleMessage(deps, participant, message);
    },
  });
}
