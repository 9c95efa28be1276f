/**
 * The saga monitor: one process per deployment that reads every defined saga's log, keeps the
 * projection of each instance (saga_instances, in the engine's database) and fires deadlines —
 * a running step past its deadline gets a StepTimedOut, written once through the engine's outbox
 * (a durable timer: a restart loses none and fires none twice).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { kafkaClient, pgPool, registryClient } from '../../core/clients.ts';
import { loadConfig } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { cleanOutboxes } from '../../outbox-connector/cleanup.ts';
import { startPoller } from '../../core/poller.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { sagaContracts, type StepTimedOutPayload } from '../../schemas/saga-contracts.ts';
import { byName, sagaTopic, sagaTopicMessages } from '../../topics/derived.ts';
import { startDeliveryGuard } from '../../outbox-connector/delivery-guard.ts';
import { runDecodingConsumer } from '../runtime/consumer.ts';
import type { DecodedMessage } from '../runtime/decode.ts';
import { countConsumed, countPublished, timed } from '../runtime/metrics.ts';
import { definitionOfInstance, type SagaDefinition } from '../saga/define-saga.ts';
import { ENGINE_MESSAGES, type InstanceState } from '../saga/instance.ts';
import { evolveVersioned, SAGA_STARTED, UnknownVersionError, versionsOf, type Versions } from './versions.ts';
import { ViewCache, type RunOptions } from './run-participant.ts';
import { INBOX_DDL, inTransaction, instanceMessage, type StoredInstance } from './tables.ts';
import { startTracing } from '../../core/tracing.ts';

/** The engine's database: the projection, the deadlines fired, and the outbox of starts and timeouts. */
export const SAGAS_DATABASE = 'sagaline_sagas';
/** Each saga's projection is its own consumer group, so monitors of different projects share nothing. */
export const monitorGroup = (sagaName: string): string => `sagaline-monitor.${sagaName}`;

/** The SQLSTATE sagaline_project_only raises when it cannot record a batch as it was folded. */
export const PROJECT_CONFLICT = 'SLP01';

export const MONITOR_DDL = [
  INBOX_DDL,
  `create table if not exists saga_instances (
     saga_id         text primary key,
     saga            text not null,
     version         int not null,
     status          text not null,
     tenant_id       text not null,
     traceparent     text not null,
     last_message_id uuid not null,
     state           jsonb not null,
     started_at      timestamptz not null,
     updated_at      timestamptz not null default now(),
     ended_at        timestamptz,
     next_deadline   timestamptz)`,
  // Listing (saga-list.ts): newest first, keyset-paged, under any one filter or saga with status.
  `drop index if exists saga_instances_by_saga`,
  `create index if not exists saga_instances_by_start on saga_instances (started_at desc, saga_id desc)`,
  `create index if not exists saga_instances_by_saga_start on saga_instances (saga, started_at desc, saga_id desc)`,
  `create index if not exists saga_instances_by_saga_status on saga_instances (saga, status, started_at desc, saga_id desc)`,
  `create index if not exists saga_instances_by_status on saga_instances (status, started_at desc, saga_id desc)`,
  `create index if not exists saga_instances_by_tenant on saga_instances (tenant_id, started_at desc, saga_id desc)`,
  `create index if not exists saga_instances_deadlines on saga_instances (next_deadline) where next_deadline is not null`,
  // The version a SagaStarted recorded for an instance whose start message is not projected yet.
  `create table if not exists saga_start_versions (
     saga_id text primary key,
     version int not null)`,
  // Where the projection stands in the log, written with each message it projects: a rebuild reads
  // exactly this far, so it compares like with like.
  `create table if not exists saga_projection_offsets (
     topic       text not null,
     partition   int not null,
     next_offset bigint not null,
     primary key (topic, partition))`,
  `create table if not exists saga_timeouts (
     saga_id  text not null,
     step     text not null,
     fired_at timestamptz not null default now(),
     primary key (saga_id, step))`,
  // Bumped by every write of an instance: a monitor that keeps instances in memory writes one only over the revision it read.
  `alter table saga_instances add column if not exists rev bigint not null default 0`,
  // A batch folded from the instances in memory, recorded in one round trip: its inbox rows, the
  // projection's place in the log and the instances, each written over the revision it was folded
  // from. Anything else — a message already in the inbox, an instance written meanwhile — raises
  // PROJECT_CONFLICT and writes nothing; the monitor then takes the transactional path.
  `create or replace function sagaline_project_only(message_ids uuid[], message_sagas text[], message_types text[],
       at_topic text, at_partition int, at_next_offset bigint,
       ids text[], revs bigint[], statuses text[], last_ids uuid[], states jsonb[], ended timestamptz[], deadlines timestamptz[])
     returns void language plpgsql as $project$
   declare
     n bigint;
   begin
     insert into sagaline_inbox (message_id, saga_id, type) select * from unnest(message_ids, message_sagas, message_types) on conflict do nothing;
     get diagnostics n = row_count;
     if n <> cardinality(message_ids) then
       raise exception 'a message is in the inbox already' using errcode = '${PROJECT_CONFLICT}';
     end if;
     insert into saga_projection_offsets (topic, partition, next_offset) values (at_topic, at_partition, at_next_offset)
     on conflict (topic, partition) do update set next_offset = greatest(saga_projection_offsets.next_offset, excluded.next_offset);
     update saga_instances i
        set status = v.status, last_message_id = v.last_id, state = v.state, updated_at = now(), ended_at = v.ended, next_deadline = v.deadline, rev = i.rev + 1
       from unnest(ids, revs, statuses, last_ids, states, ended, deadlines) as v(saga_id, rev, status, last_id, state, ended, deadline)
      where i.saga_id = v.saga_id and i.rev = v.rev;
     get diagnostics n = row_count;
     if n <> cardinality(ids) then
       raise exception 'an instance was written meanwhile' using errcode = '${PROJECT_CONFLICT}';
     end if;
   end
   $project$`,
];

/** The earliest deadline among running steps not yet timed out; null when none runs. */
export function nextDeadline(saga: SagaDefinition, state: InstanceState | undefined, fired: ReadonlySet<string> = new Set()): Date | null {
  if (!state || (state.status !== 'Running' && state.status !== 'Compensating')) return null;
  let next: number | null = null;
  for (const step of saga.steps) {
    const s = state.steps[step.name];
    if (s?.status !== 'running' || !s.startedAt || fired.has(step.name)) continue;
    const at = Date.parse(s.startedAt) + step.deadlineMs;
    next = next === null ? at : Math.min(next, at);
  }
  return next === null ? null : new Date(next);
}

export interface RunningMonitor {
  stop(): Promise<void>;
}

export interface MonitorOptions extends RunOptions {
  /**
   * Also run the delivery guard here (default true; off when SAGALINE_DELIVERY_GUARD_MS=0): ends a
   * connection that holds a stalled connector's replication slot, restarts a FAILED connector task.
   * Needs a database role allowed to signal backends.
   */
  deliveryGuard?: boolean;
}

export async function runSagaMonitor(sagas: readonly SagaDefinition[], options: MonitorOptions): Promise<RunningMonitor> {
  if (sagas.length === 0) throw new ConfigError('the saga monitor needs at least one saga definition');
  const config = options.config ?? loadConfig();
  startTracing('sagaline-saga-monitor');
  const log = (options.logger ?? createLogger(config, 'saga-monitor')).child({ service: 'saga-monitor' });
  const contracts = sagaContracts(options.schemas, sagas);
  const metrics = options.metrics;
  const groups = [...byName(sagas).values()].map((versions) => versionsOf(versions, (d) => d));
  const writer = await OutboxWriter.create(config.schemaRegistry, contracts, { topics: groups.map((g) => sagaTopic(g.all)) });
  const byTopic = new Map(groups.map((g) => [sagaTopic(g.all).name, g]));
  const pool = pgPool(config, SAGAS_DATABASE, config.saga.partitionsConcurrently + 3, (err) => log.warn({ err: err.message }, 'idle database connection lost; the pool reconnects on demand'));
  try {
    const client = await pool.connect();
    try {
      // Monitors starting together create the tables and the function one at a time.
      await client.query(`select pg_advisory_lock(hashtext('sagaline monitor ddl'))`);
      try {
        for (const statement of MONITOR_DDL) await client.query(statement);
      } finally {
        await client.query(`select pg_advisory_unlock(hashtext('sagaline monitor ddl'))`);
      }
    } finally {
      client.release();
    }
    const consumers: { stop(): Promise<void> }[] = [];
    for (const [topic, versions] of byTopic) {
      const groupId = monitorGroup(versions.latest.name);
      const instances = new ViewCache();
      consumers.push(
        await runDecodingConsumer({
          kafka: kafkaClient(config, groupId),
          registry: registryClient(config),
          groupId,
          topics: [topic],
          fromBeginning: config.saga.consumerStart === 'earliest',
          sessionTimeoutMs: config.saga.sessionTimeoutMs,
          catalogue: sagaTopicMessages(versions.all),
          log,
          batchMaxMessages: config.saga.batchMaxMessages,
          partitionsConcurrently: config.saga.partitionsConcurrently,
          fetchMinBytes: config.saga.fetchMinBytes,
          fetchMaxWaitMs: config.saga.fetchMaxWaitMs,
          commitIntervalMs: config.saga.commitIntervalMs,
          ...(metrics ? { metrics } : {}),
          handleBatch: async (messages) => {
            const handle = async () => {
              if (!(await projectFromMemory(pool, versions, messages, instances))) await project(pool, versions, messages, log, instances);
            };
            if (!metrics) return handle();
            for (const m of messages) countConsumed(metrics, m.kafka.topic, m.type, m.kafka.timestamp);
            await timed(metrics, handle, messages.length);
          },
        }),
      );
    }
    const deadlines = startPoller('saga deadlines', config.saga.timerPollMs, log, async () => {
      const fired = await fireDeadlines(pool, writer, sagas, log);
      if (metrics) for (let i = 0; i < fired; i++) countPublished(metrics, [{ type: ENGINE_MESSAGES.stepTimedOut }]);
    });
    const guard = options.deliveryGuard === false ? undefined : startDeliveryGuard(config, log.child({ component: 'delivery-guard' }));
    // Debezium-mode outboxes lose the rows their slots confirmed (outbox-connector/cleanup.ts); the first run one interval after the start.
    let started = false;
    const cleanup =
      config.outboxCleanupIntervalMs > 0
        ? startPoller('outbox cleanup', config.outboxCleanupIntervalMs, log, async () => {
            if (started) await cleanOutboxes(config, { log: log.child({ component: 'outbox-cleanup' }) });
            started = true;
          })
        : undefined;
    log.info({ sagas: sagas.map((s) => s.name), deliveryGuard: guard !== undefined }, 'saga monitor running');
    return {
      async stop() {
        await guard?.stop();
        await cleanup?.stop();
        await deadlines.stop();
        for (const consumer of consumers) await consumer.stop();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}

interface ProjectedRow {
  state: InstanceState;
  tenantId: string;
  traceparent: string;
  lastMessageId: string;
  nextDeadline: Date | null;
}

/**
 * Projects messages of one partition, in order, in one transaction: the inbox, the projection's
 * position in the log and every instance they touch are written together.
 */
async function project(pool: pg.Pool, versions: Versions<SagaDefinition>, messages: readonly DecodedMessage[], log: Logger, instances: ViewCache): Promise<void> {
  const sagaIds = [...new Set(messages.map((m) => m.metadata.sagaId))].sort();
  const last = messages.at(-1) as DecodedMessage;
  // Whatever happens to this transaction, the instances in memory of its sagas are read again next time.
  instances.forget(sagaIds);
  const written: [string, StoredInstance][] = [];
  await inTransaction(pool, async (client) => {
    // The inbox first (a message another transaction projects waits for it, then counts as a duplicate), and the projection's place in the log.
    const { rows: [first] } = await client.query<{ fresh: string[] | null }>(
      `with fresh as (
         insert into sagaline_inbox (message_id, saga_id, type)
         select * from unnest($1::uuid[], $2::text[], $3::text[]) on conflict do nothing returning message_id),
       position as (
         insert into saga_projection_offsets (topic, partition, next_offset) values ($4, $5, $6)
         on conflict (topic, partition) do update set next_offset = greatest(saga_projection_offsets.next_offset, excluded.next_offset))
       select array_agg(message_id) as fresh from fresh`,
      [messages.map((m) => m.metadata.messageId), messages.map((m) => m.metadata.sagaId), messages.map((m) => m.type), last.kafka.topic, last.kafka.partition, (BigInt(last.kafka.offset) + 1n).toString()],
    );
    const fresh = new Set(first?.fresh ?? []);
    if (fresh.size === 0) return;
    const { rows } = await client.query<{ saga_id: string; state: InstanceState; tenant_id: string; traceparent: string }>(
      'select saga_id, state, tenant_id, traceparent from saga_instances where saga_id = any($1::text[]) order by saga_id for update',
      [sagaIds],
    );
    const current = new Map<string, { state: InstanceState | undefined; tenantId?: string; traceparent?: string }>(rows.map((r) => [r.saga_id, { state: r.state, tenantId: r.tenant_id, traceparent: r.traceparent }]));
    // The version a SagaStarted recorded, for an instance not projected yet whose SagaStarted came in an earlier batch.
    const startsHere = new Set(messages.filter((m) => (m.type as string) === SAGA_STARTED && fresh.has(m.metadata.messageId)).map((m) => m.metadata.sagaId));
    const unknown = sagaIds.filter((id) => !current.has(id) && !startsHere.has(id));
    const recordedVersions = new Map(
      unknown.length === 0 ? [] : (await client.query<{ saga_id: string; version: number }>('select saga_id, version from saga_start_versions where saga_id = any($1::text[])', [unknown])).rows.map((r) => [r.saga_id, r.version]),
    );
    const newVersions = new Map<string, number>();
    const changed = new Map<string, ProjectedRow>();
    for (const message of messages) {
      const { sagaId, messageId } = message.metadata;
      if (!fresh.delete(messageId)) continue;
      const now = current.get(sagaId);
      if (now?.state && now.state.saga !== versions.name) {
        // Another saga's instance holds this id: it stays as it is, and this message is not projected.
        log.error({ sagaId, type: message.type, messageId, saga: versions.name, heldBy: now.state.saga }, 'saga id already used by an instance of another saga; message not projected');
        continue;
      }
      let versioned;
      try {
        versioned = evolveVersioned(versions, now?.state, recordedVersions.get(sagaId), instanceMessage(message));
      } catch (err) {
        if (!(err instanceof UnknownVersionError)) {
          log.error({ sagaId, type: message.type, messageId, projectedVersion: now?.state?.version, recordedVersion: recordedVersions.get(sagaId), steps: now?.state ? Object.keys(now.state.steps) : undefined, err: (err as Error).message }, 'folding a message failed');
          throw err;
        }
        // The projection of that instance stops here, loudly: run the monitor with every version in flight.
        log.error({ sagaId, type: message.type, err: err.message }, 'message of an unknown definition version; not projected');
        continue;
      }
      const { evolution, version } = versioned;
      if ((message.type as string) === SAGA_STARTED && version !== undefined && !recordedVersions.has(sagaId) && !now?.state) {
        recordedVersions.set(sagaId, version);
        newVersions.set(sagaId, version);
        continue;
      }
      const saga = versioned.definition ?? (versions.of(version ?? versions.latest.version) as SagaDefinition);
      const state = evolution.state;
      if (!state) {
        log.warn({ sagaId, type: message.type, ignored: evolution.ignored }, 'message of no instance');
        continue;
      }
      // The instance keeps the tenant and trace of the message that made it.
      const tenantId = now?.tenantId ?? message.metadata.tenantId;
      const traceparent = now?.traceparent ?? message.metadata.traceparent;
      current.set(sagaId, { state, tenantId, traceparent });
      changed.set(sagaId, { state, tenantId, traceparent, lastMessageId: messageId, nextDeadline: nextDeadline(saga, state) });
    }
    // A version whose instance got its state in this batch needs no record: the state carries it.
    for (const id of changed.keys()) newVersions.delete(id);
    const list = [...changed.entries()];
    const versionsToRecord = [...newVersions.entries()];
    if (list.length === 0 && versionsToRecord.length === 0) return;
    const { rows: revs } = await client.query<{ saga_id: string; rev: string }>(
      `with started as (
         insert into saga_start_versions (saga_id, version) select * from unnest($12::text[], $13::int[]) on conflict do nothing)
       insert into saga_instances (saga_id, saga, version, status, tenant_id, traceparent, last_message_id, state, started_at, ended_at, next_deadline, rev)
       select *, 1 from unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
       on conflict (saga_id) do update set status = excluded.status, last_message_id = excluded.last_message_id, state = excluded.state,
         updated_at = now(), ended_at = excluded.ended_at, next_deadline = excluded.next_deadline, rev = saga_instances.rev + 1
       returning saga_id, rev`,
      [
        list.map(([id]) => id),
        list.map(([, r]) => r.state.saga),
        list.map(([, r]) => r.state.version),
        list.map(([, r]) => r.state.status),
        list.map(([, r]) => r.tenantId),
        list.map(([, r]) => r.traceparent),
        list.map(([, r]) => r.lastMessageId),
        list.map(([, r]) => JSON.stringify(r.state)),
        list.map(([, r]) => r.state.startedAt),
        list.map(([, r]) => r.state.endedAt ?? null),
        list.map(([, r]) => r.nextDeadline),
        versionsToRecord.map(([id]) => id),
        versionsToRecord.map(([, v]) => v),
      ],
    );
    for (const { saga_id: id, rev } of revs) {
      const r = changed.get(id) as ProjectedRow;
      written.push([id, { state: r.state, version: r.state.version, tenantId: r.tenantId, traceparent: r.traceparent, rev: Number(rev) }]);
    }
  });
  for (const [id, instance] of written) instances.set(id, instance);
}

/**
 * A batch whose sagas are all in memory (the common case: every message after a saga's first),
 * folded there and recorded by one call of `sagaline_project_only`. False when a saga is not in
 * memory, a message needs the transactional path's care (a start, another saga's id, one that
 * does not fold), or the instances in memory turned out stale: nothing is written then.
 */
async function projectFromMemory(pool: pg.Pool, versions: Versions<SagaDefinition>, messages: readonly DecodedMessage[], instances: ViewCache): Promise<boolean> {
  const folded = new Map<string, { read: StoredInstance; state: InstanceState; saga: SagaDefinition; lastMessageId: string }>();
  for (const message of messages) {
    const { sagaId, messageId } = message.metadata;
    const now = folded.get(sagaId);
    const read = now?.read ?? instances.get(sagaId);
    const state = now?.state ?? read?.state;
    if (!read || !state || state.saga !== versions.name) return false;
    let versioned;
    try {
      versioned = evolveVersioned(versions, state, undefined, instanceMessage(message));
    } catch {
      return false;
    }
    const next = versioned.evolution.state;
    if (!next) return false;
    const saga = versioned.definition ?? (versions.of(versioned.version ?? versions.latest.version) as SagaDefinition);
    folded.set(sagaId, { read, state: next, saga, lastMessageId: messageId });
  }
  const list = [...folded.entries()];
  let saved = false;
  try {
    saved = await saveProjectOnly(pool, messages, list.map(([id, f]) => ({ sagaId: id, rev: f.read.rev, state: f.state, lastMessageId: f.lastMessageId, nextDeadline: nextDeadline(f.saga, f.state) })));
  } finally {
    if (!saved) instances.forget(folded.keys());
  }
  if (!saved) return false;
  for (const [id, f] of list) instances.set(id, { ...f.read, state: f.state, version: f.state.version, rev: f.read.rev + 1 });
  return true;
}

/** Fires every deadline due, each once (saga_timeouts), in the transaction that writes its StepTimedOut. */
export async function fireDeadlines(pool: pg.Pool, writer: OutboxWriter, sagas: readonly SagaDefinition[], log: Logger): Promise<number> {
  // Only this monitor's sagas: another project's monitor fires its own.
  const names = [...new Set(sagas.map((s) => s.name))];
  const due = (await pool.query<{ saga_id: string }>("select saga_id from saga_instances where next_deadline <= now() and status in ('Running', 'Compensating') and saga = any($1) order by next_deadline limit 100", [names])).rows;
  let fired = 0;
  for (const { saga_id: sagaId } of due) {
    fired += await inTransaction(pool, async (client) => {
      const row = (await client.query<{ saga: string; state: InstanceState; tenant_id: string; traceparent: string; last_message_id: string }>('select saga, state, tenant_id, traceparent, last_message_id from saga_instances where saga_id = $1 for update', [sagaId])).rows[0];
      const declared = row && sagas.find((s) => s.name === row.saga && s.version === row.state.version);
      if (!row || !declared) return 0;
      const saga = definitionOfInstance(declared, row.state.start.payload);
      const already = new Set((await client.query<{ step: string }>('select step from saga_timeouts where saga_id = $1', [sagaId])).rows.map((r) => r.step));
      const now = Date.now();
      let count = 0;
      for (const step of saga.steps) {
        const s = row.state.steps[step.name];
        if (s?.status !== 'running' || !s.startedAt || already.has(step.name) || Date.parse(s.startedAt) + step.deadlineMs > now) continue;
        await client.query('insert into saga_timeouts (saga_id, step) values ($1, $2)', [sagaId, step.name]);
        const payload: StepTimedOutPayload = { saga: saga.name, step: step.name, deadlineMs: step.deadlineMs, reason: `${step.name} did not answer within ${step.deadlineMs} ms` };
        await writer.publish(client, {
          type: ENGINE_MESSAGES.stepTimedOut as never,
          payload: payload as never,
          metadata: { messageId: randomUUID(), sagaId, tenantId: row.tenant_id || 'unknown', correlationId: sagaId, causationId: row.last_message_id, traceparent: row.traceparent },
        }, sagaTopic(sagas.filter((s) => s.name === saga.name)).name);
        already.add(step.name);
        count += 1;
        log.warn({ sagaId, saga: saga.name, step: step.name, deadlineMs: step.deadlineMs }, 'step deadline passed; StepTimedOut written');
      }
      await client.query('update saga_instances set next_deadline = $2 where saga_id = $1', [sagaId, nextDeadline(saga, row.state, already)]);
      return count;
    });
  }
  return fired;
}

/** An instance folded from the revision `rev` it had, to be written over that revision. */
export interface ProjectedInstance {
  sagaId: string;
  rev: number;
  state: InstanceState;
  lastMessageId: string;
  nextDeadline: Date | null;
}

/**
 * Records a batch of one partition in one round trip (sagaline_project_only): its inbox rows, the
 * projection's place in the log after its last message, and the instances. False, with nothing
 * written, when a message is in the inbox already or an instance is not at the revision given.
 */
export async function saveProjectOnly(pool: pg.Pool, messages: readonly DecodedMessage[], instances: readonly ProjectedInstance[]): Promise<boolean> {
  const last = messages.at(-1) as DecodedMessage;
  try {
    await pool.query(
      'select sagaline_project_only($1::uuid[], $2::text[], $3::text[], $4, $5, $6, $7::text[], $8::bigint[], $9::text[], $10::uuid[], $11::jsonb[], $12::timestamptz[], $13::timestamptz[])',
      [
        messages.map((m) => m.metadata.messageId),
        messages.map((m) => m.metadata.sagaId),
        messages.map((m) => m.type),
        last.kafka.topic,
        last.kafka.partition,
        (BigInt(last.kafka.offset) + 1n).toString(),
        instances.map((i) => i.sagaId),
        instances.map((i) => i.rev),
        instances.map((i) => i.state.status),
        instances.map((i) => i.lastMessageId),
        instances.map((i) => JSON.stringify(i.state)),
        instances.map((i) => i.state.endedAt ?? null),
        instances.map((i) => i.nextDeadline),
      ],
    );
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === PROJECT_CONFLICT) return false;
    throw err;
  }
}
