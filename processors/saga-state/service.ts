/**
 * The saga-state processor: folds every saga topic into the `saga_state` projection (Postgres),
 * storing its consumer offsets in the same transaction, and acts as the saga watchdog — durable
 * step deadlines in `saga_timers`, fired through the outbox, and the SagaCompleted verdict.
 *
 * Its own messages are not folded in when written: they are folded when read back from Kafka like
 * every other message, so the live projection and one rebuilt from the log are the same fold.
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import pg from 'pg';
import { ENGINE_DATABASE, type Config } from '../../core/config.ts';
import { PoisonMessageError } from '../../core/errors.ts';
import { newTraceparent } from '../../core/ids.ts';
import type { Logger } from '../../core/log.ts';
import type { OutboxWriter, OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { Step } from '../../schemas/generated.ts';
import { EVENT_LOG_TOPICS } from '../../topics/catalogue.ts';
import { poisonLogFields, sendToDeadLetter } from '../runtime/consumer.ts';
import { decodeMessage, type DecodedMessage } from '../runtime/decode.ts';
import { context, inTransaction } from '../runtime/participant.ts';
import { withRetries } from '../runtime/transient.ts';
import { startPoller } from '../../core/poller.ts';
import { countConsumed, countPublished, timed, type ProcessorMetrics } from '../runtime/metrics.ts';
import type { Incoming } from '../saga/decision.ts';
import { evolve, initialState, type SagaState } from '../saga/state.ts';
import { isTwoPhaseCommitMessage } from '../../coordinator/messages.ts';
import { decide, decideTimer, type Timer, type WatchdogCommand, type WatchdogFacts } from './decide.ts';

export const DATABASE = ENGINE_DATABASE;
export const LIVE_TABLE = 'saga_state';

export function projectionDdl(table: string): string[] {
  const t = pg.escapeIdentifier(table);
  return [
    `create table if not exists ${t} (
       saga_id    text primary key,
       status     text not null,
       tenant_id  text,
       model_id   text,
       state      jsonb not null,
       updated_at timestamptz not null default now())`,
    `create index if not exists ${pg.escapeIdentifier(`${table}_status`)} on ${t} (status)`,
  ];
}

export const DDL = [
  ...projectionDdl(LIVE_TABLE),
  `create table if not exists projection_offsets (
     projection  text   not null,
     topic       text   not null,
     partition   int    not null,
     next_offset bigint not null,
     primary key (projection, topic, partition))`,
  `create table if not exists saga_timers (
     saga_id text not null,
     step    text not null,
     due_at  timestamptz not null,
     status  text not null check (status in ('pending', 'fired', 'cancelled')),
     primary key (saga_id, step))`,
  `create index if not exists saga_timers_due on saga_timers (due_at) where status = 'pending'`,
  `create table if not exists saga_completions (saga_id text primary key, completed_at timestamptz not null default now())`,
];

/** Whether a message folds into saga state: two-phase commit messages (coordinator/) share the topics but belong to no saga. */
export function isSagaMessage(message: DecodedMessage): boolean {
  return !isTwoPhaseCommitMessage(message.type);
}

/** The pure step of the projection: a saga's state after one more message (`before` undefined: the first one seen). */
export function foldMessage(before: SagaState | undefined, message: DecodedMessage): SagaState {
  return evolve(before ?? initialState(message.metadata.sagaId), { type: message.type, payload: message.payload, messageId: message.metadata.messageId, at: message.kafka.timestamp });
}

/** Folds one message into a projection table (the live one or a rebuild), returning the new state. */
export async function project(client: pg.ClientBase, table: string, message: DecodedMessage): Promise<SagaState> {
  const t = pg.escapeIdentifier(table);
  const sagaId = message.metadata.sagaId;
  if (!isSagaMessage(message)) return initialState(sagaId);
  await client.query(`insert into ${t} (saga_id, status, state) values ($1, 'NotStarted', $2) on conflict do nothing`, [sagaId, initialState(sagaId)]);
  const before = (await client.query(`select state from ${t} where saga_id = $1 for update`, [sagaId])).rows[0].state as SagaState;
  const after = foldMessage(before, message);
  if (after !== before) {
    await client.query(`update ${t} set status = $2, tenant_id = $3, model_id = $4, state = $5, updated_at = now() where saga_id = $1`, [sagaId, after.status, after.tenantId, after.modelId, after]);
  }
  return after;
}

async function watchdogFacts(client: pg.ClientBase, sagaId: string): Promise<WatchdogFacts> {
  const timers = (await client.query('select step, due_at, status from saga_timers where saga_id = $1 for update', [sagaId])).rows.map(
    (r): Timer => ({ step: r.step as Step, dueAt: (r.due_at as Date).getTime(), status: r.status }),
  );
  const completed = ((await client.query('select 1 from saga_completions where saga_id = $1', [sagaId])).rowCount ?? 0) > 0;
  return { timers, completed };
}

async function applyWatchdog(client: pg.ClientBase, c: WatchdogCommand): Promise<void> {
  switch (c.kind) {
    case 'schedule':
      await client.query("insert into saga_timers (saga_id, step, due_at, status) values ($1, $2, $3, 'pending') on conflict do nothing", [c.sagaId, c.step, new Date(c.dueAt)]);
      return;
    case 'cancel':
      await client.query("update saga_timers set status = 'cancelled' where saga_id = $1 and step = $2 and status = 'pending'", [c.sagaId, c.step]);
      return;
    case 'fire':
      await client.query("update saga_timers set status = 'fired' where saga_id = $1 and step = $2 and status = 'pending'", [c.sagaId, c.step]);
      return;
    case 'complete':
      await client.query('insert into saga_completions (saga_id) values ($1) on conflict do nothing', [c.sagaId]);
      return;
    default: {
      const unreachable: never = c;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

export interface SagaStateDeps {
  config: Config;
  pool: pg.Pool;
  writer: OutboxWriter;
  log: Logger;
  kafka: Kafka;
  registry: SchemaRegistry;
  metrics: ProcessorMetrics;
}

/** Fires the deadlines that have passed; returns how many timers it looked at. */
export async function fireDueTimers(deps: SagaStateDeps): Promise<number> {
  const due = (await deps.pool.query("select saga_id, step from saga_timers where status = 'pending' and due_at <= now() order by due_at limit 100")).rows as { saga_id: string; step: Step }[];
  for (const { saga_id: sagaId, step } of due) {
    const published = await inTransaction(deps.pool, async (client) => {
      const row = (await client.query(`select state from ${LIVE_TABLE} where saga_id = $1 for update`, [sagaId])).rows[0];
      const state = (row?.state as SagaState | undefined) ?? initialState(sagaId);
      const facts = await watchdogFacts(client, sagaId);
      const timer = facts.timers.find((t) => t.step === step);
      if (!timer) return [];
      // A deadline is caused by the passage of time: its causation is the saga itself, with a fresh trace.
      const cause: Incoming = { type: 'StepTimedOut', payload: {}, metadata: { messageId: sagaId, traceparent: newTraceparent() } };
      const decision = decideTimer(state, timer, facts, cause, context());
      for (const c of decision.commands) await applyWatchdog(client, c);
      for (const m of decision.messages) await deps.writer.publish(client, m);
      for (const m of decision.messages) deps.log.info({ sagaId, messageId: m.metadata.messageId, type: m.type, step, service: 'saga-state' }, 'step deadline passed');
      return decision.messages;
    });
    countPublished(deps.metrics, published);
  }
  return due.length;
}

async function handle(deps: SagaStateDeps, topic: string, partition: number, message: KafkaMessage, producer: Producer): Promise<void> {
  let decoded: DecodedMessage | undefined;
  try {
    decoded = await decodeMessage(deps.registry, topic, partition, message);
  } catch (err) {
    if (!(err instanceof PoisonMessageError)) throw err;
    await sendToDeadLetter(producer, err, topic, partition, message);
    deps.log.warn({ ...poisonLogFields(topic, partition, message), service: 'saga-state', err: err.message }, 'poison message sent to dead-letter topic');
  }
  if (decoded) countConsumed(deps.metrics, topic, decoded.type);
  const published = await withRetries('saga-state projection', 5, () =>
    inTransaction(deps.pool, async (client) => {
      let written: OutgoingMessage[] = [];
      const stored = (await client.query("select next_offset from projection_offsets where projection = 'live' and topic = $1 and partition = $2 for update", [topic, partition])).rows[0];
      if (stored && BigInt(message.offset) < BigInt(stored.next_offset)) return written; // already applied (redelivery)
      if (decoded) {
        const state = await project(client, LIVE_TABLE, decoded);
        const incoming: Incoming = { type: decoded.type, payload: decoded.payload, metadata: decoded.metadata };
        const decision = decide(state, incoming, await watchdogFacts(client, state.sagaId), deps.config.saga.deadlinesMs, context());
        for (const c of decision.commands) await applyWatchdog(client, c);
        for (const m of decision.messages) await deps.writer.publish(client, m);
        written = decision.messages;
        deps.log.info({ sagaId: state.sagaId, messageId: decoded.metadata.messageId, type: decoded.type, service: 'saga-state', sagaStatus: state.status }, 'projected');
      }
      await client.query(
        `insert into projection_offsets (projection, topic, partition, next_offset) values ('live', $1, $2, $3)
         on conflict (projection, topic, partition) do update set next_offset = excluded.next_offset`,
        [topic, partition, (BigInt(message.offset) + 1n).toString()],
      );
      return written;
    }),
  );
  countPublished(deps.metrics, published);
}

export async function runSagaState(deps: SagaStateDeps): Promise<{ stop(): Promise<void> }> {
  const client = await deps.pool.connect();
  try {
    for (const statement of DDL) await client.query(statement);
  } finally {
    client.release();
  }
  const sessionTimeout = deps.config.saga.sessionTimeoutMs;
  const consumer = deps.kafka.consumer({ groupId: 'sagaline-saga-state', allowAutoTopicCreation: false, sessionTimeout, rebalanceTimeout: 2 * sessionTimeout, heartbeatInterval: Math.max(1_000, Math.floor(sessionTimeout / 10)) });
  const producer = deps.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await consumer.connect();
  for (const topic of EVENT_LOG_TOPICS.map((t) => t.name)) await consumer.subscribe({ topic, fromBeginning: deps.config.saga.consumerStart === 'earliest' });
  // Offsets live in Postgres with the projection; Kafka's copy only says where to resume reading.
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      await timed(deps.metrics, () => handle(deps, topic, partition, message, producer));
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
    },
  });
  const timers = startPoller('step deadlines', deps.config.saga.timerPollMs, deps.log, () => fireDueTimers(deps));
  return {
    async stop() {
      await timers.stop();
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
