/**
 * Runs a participant inside the caller's own process. For each message of its saga, in one
 * transaction of the service's database: skip it if its id is in the inbox; fold it into the
 * saga's view; for each step the fold says this service must run or undo now, call the handler
 * with the same transaction and write the outcome's message to the outbox; record the message id;
 * commit. At-least-once delivery thus has exactly-once effects.
 *
 * The service does not fold its own replies when it writes them: it reads them back from the log
 * like everyone else, so every participant folds one instance's messages in the one order of their
 * partition, and all views agree.
 *
 * A transient failure defers the message (the partition moves on; later messages of the same saga
 * queue behind it) and retries it with backoff. The last attempt the step's retry limit allows
 * turns a transient failure into the step's failure message (or, undoing, CompensationFailed).
 * Any other exception parks the message, its error recorded, until an operator looks.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { kafkaClient, pgPool, registryClient } from '../../core/clients.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { ConfigError, SagalineError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { startPoller } from '../../core/poller.ts';
import { OutboxWriter, type OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { Contracts } from '../../schemas/contracts.ts';
import { sagaContracts, type CompensationFailedPayload, type StepAttemptFailedPayload } from '../../schemas/saga-contracts.ts';
import { sagaTopic, sagaTopicMessages } from '../../topics/derived.ts';
import { runDecodingConsumer } from '../runtime/consumer.ts';
import type { DecodedMessage } from '../runtime/decode.ts';
import { countConsumed, countPublished, timed, type ProcessorMetrics } from '../runtime/metrics.ts';
import { backoffMs, isTransient } from '../runtime/transient.ts';
import { stepNamed, type DefinedStep } from '../saga/define-saga.ts';
import { ENGINE_MESSAGES, isTerminal, type Command, type InstanceState } from '../saga/instance.ts';
import type { SagaDefinition } from '../saga/define-saga.ts';
import { evolveVersioned, versionsOf, type Versions } from './versions.ts';
import type { ActOutcome, Complete, Participant, StepHandlers, StepInput, StepOutcome } from './participant.ts';
import { inTransaction, instanceMessage, loadInstances, PARTICIPANT_DDL, saveBatch, saveFoldOnly, type StoredInstance } from './tables.ts';
import type { OutboxRow } from '../../outbox-connector/outbox-table.ts';
import { inHandlingSpans } from '../runtime/tracing.ts';
import { inSpan, startTracing } from '../../core/tracing.ts';

export interface RunOptions {
  /** Where the stack is (default: loadConfig(), from the environment). */
  config?: Config;
  /** The project's schemas folder (with messages/ and optionally shared/), or contracts already loaded. */
  schemas: string | Contracts;
  logger?: Logger;
  /** Counters and timings of this process (served by `sagaline run --metrics-port`); none by default. */
  metrics?: ProcessorMetrics;
}

export interface RunningParticipant {
  /** Reports the outcome of a step that returned `later()`, in `tx` (of the service's database) or a transaction of its own. */
  complete: Complete;
  stop(): Promise<void>;
}

/** The consumer group of a participant: one per saga and service, however many processes run it. */
export const participantGroup = (p: Pick<Participant, 'saga' | 'service'>): string => `sagaline-${p.saga.name}-${p.service}`;

interface Shell {
  /** The latest version's participant: names, logs. */
  p: Participant;
  versions: Versions<Participant>;
  definitions: Versions<SagaDefinition>;
  pool: pg.Pool;
  writer: OutboxWriter;
  log: Logger;
  metrics?: ProcessorMetrics;
  /** Views as this process last read or wrote them (with their revision), so a message that only folds needs no read. */
  views: ViewCache;
}

/**
 * The views this process wrote or read last, newest last. An entry may be stale (another instance
 * took the partition meanwhile): the revision it carries makes the write refuse it, and the batch
 * then goes the transactional way, which reads the view again.
 */
export class ViewCache {
  private readonly entries = new Map<string, StoredInstance>();
  constructor(private readonly capacity = 20_000) {}
  get(sagaId: string): StoredInstance | undefined {
    return this.entries.get(sagaId);
  }
  set(sagaId: string, view: StoredInstance): void {
    this.entries.delete(sagaId);
    // An ended saga gets no more messages that change anything here; a late one reads the view again.
    if (view.state && isTerminal(view.state.status)) return;
    this.entries.set(sagaId, view);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }
  forget(sagaIds: Iterable<string>): void {
    for (const id of sagaIds) this.entries.delete(id);
  }
  get size(): number {
    return this.entries.size;
  }
}

/**
 * The records must accept what will be written: the payloads the participant names (its
 * replyExamples), and `{ reason }` for every failure message the engine may have to write itself,
 * unless the step says how to fill it.
 */
function checkReplyPayloads(p: Participant, contracts: Contracts): void {
  const problems: string[] = [];
  for (const [message, examples] of p.replyExamples ?? []) {
    const record = contracts.messages.get(message);
    const refused = record ? examples.find((e) => !record.isValid(e)) : undefined;
    if (record && refused !== undefined) {
      problems.push(`message ${message}: its record must accept ${JSON.stringify(refused)}, which this participant writes (fields: ${record.fields.map((f) => f.name).join(', ')})`);
    }
  }
  for (const step of p.saga.steps.filter((s) => s.owner === p.service)) {
    if (p.steps[step.name]?.failurePayload) continue;
    const record = contracts.messages.get(step.failed);
    if (record && !record.isValid({ reason: 'x' })) {
      problems.push(`step ${step.name}: when its retries run out the engine writes ${step.failed} as { reason }, which its schema refuses; give the record defaults for its other fields, or the step a failurePayload(reason, saga)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`participant ${p.service} of ${p.saga.name}:\n  - ${problems.join('\n  - ')}`);
}

/**
 * Runs a participant; given several versions of it (one per definition version still in flight),
 * each instance is handled by the version it started under.
 */
export async function runParticipant(participants: Participant | readonly Participant[], options: RunOptions): Promise<RunningParticipant> {
  const versions = versionsOf(Array.isArray(participants) ? participants : [participants as Participant], (x) => x.saga);
  const p = versions.latest;
  for (const other of versions.all) if (other.service !== p.service || other.database !== p.database) throw new ConfigError(`versions of participant ${p.service} of ${p.saga.name} must share the service and the database (got ${other.service} in ${other.database})`);
  const definitions = versionsOf(versions.all.map((x) => x.saga), (d) => d);
  const config = options.config ?? loadConfig();
  startTracing(`sagaline-${p.service}`);
  const log = (options.logger ?? createLogger(config, p.service)).child({ service: p.service, saga: p.saga.name });
  const contracts = sagaContracts(options.schemas, definitions.all);
  for (const version of versions.all) checkReplyPayloads(version, contracts);
  const topic = sagaTopic(definitions.all);
  const writer = await OutboxWriter.create(config.schemaRegistry, contracts, { topics: [topic] });
  const pool = pgPool(config, p.database, config.saga.partitionsConcurrently + 3, (err) => log.warn({ err: err.message, database: p.database }, 'idle database connection lost; the pool reconnects on demand'));
  try {
    const client = await pool.connect();
    try {
      // Instances of the service starting together create the tables one at a time.
      await client.query(`select pg_advisory_lock(hashtext('sagaline participant ddl'))`);
      try {
        for (const statement of [...PARTICIPANT_DDL, ...p.ddl]) await client.query(statement);
      } finally {
        await client.query(`select pg_advisory_unlock(hashtext('sagaline participant ddl'))`);
      }
    } finally {
      client.release();
    }
    const shell: Shell = { p, versions, definitions, pool, writer, log, views: new ViewCache(), ...(options.metrics ? { metrics: options.metrics } : {}) };
    const consumer = await runDecodingConsumer({
      kafka: kafkaClient(config, participantGroup(p)),
      registry: registryClient(config),
      groupId: participantGroup(p),
      topics: [topic.name],
      fromBeginning: config.saga.consumerStart === 'earliest',
      sessionTimeoutMs: config.saga.sessionTimeoutMs,
      catalogue: sagaTopicMessages(definitions.all),
      log,
      batchMaxMessages: config.saga.batchMaxMessages,
      partitionsConcurrently: config.saga.partitionsConcurrently,
      fetchMinBytes: config.saga.fetchMinBytes,
      fetchMaxWaitMs: config.saga.fetchMaxWaitMs,
      commitIntervalMs: config.saga.commitIntervalMs,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      handleBatch: async (messages) => {
        const metrics = shell.metrics;
        if (!metrics) return void (await handleMessages(shell, messages));
        for (const m of messages) countConsumed(metrics, m.kafka.topic, m.type, m.kafka.timestamp);
        await timed(metrics, () => handleMessages(shell, messages), messages.length);
      },
    });
    const retries = startPoller('deferred message retries', config.saga.timerPollMs, log, () => retryDeferred(shell));
    const complete: Complete = (report, tx) => (tx ? completeStep(shell, tx, report) : inTransaction(pool, (client) => completeStep(shell, client, report)));
    const poll = p.poll;
    const polling = poll ? startPoller(`${p.service} poll`, poll.intervalMs, log, () => poll.run({ db: pool, complete })) : undefined;
    log.info({ database: p.database, topic: topic.name, group: participantGroup(p) }, 'participant running');
    return {
      complete,
      async stop() {
        await polling?.stop();
        await retries.stop();
        await consumer.stop();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}

export type MessageOutcome = 'handled' | 'duplicate' | 'deferred' | 'parked';

/** One message being retried: the deferred row it came from, and which attempt this is. */
interface Retry {
  seq: string;
  attemptNo: number;
  /** Skipped by an operator: folded into the view and recorded as handled, its handlers not run. */
  skip?: boolean;
}

/** The step (and whether it was being undone) a transient error of runCommand came from, for its StepAttemptFailed. */
const attemptOf = new WeakMap<object, { step: string; compensation: boolean }>();

/** A message's handling threw in a batch run without savepoints: the batch is run again, with them. */
class MessageFailed extends Error {
  constructor(readonly messageId: string, readonly failure: unknown) {
    super(`message ${messageId} failed: ${(failure as Error)?.message ?? String(failure)}`);
  }
}

/**
 * Handles messages of one partition, in their order, in one transaction: the inbox rows, the
 * views, the steps' business changes and the replies in the outbox commit together or not at all.
 *
 * The batch first runs without savepoints (a handful of statements for the whole batch, plus the
 * handlers' own). When a message's handling throws, that run is rolled back and the batch runs
 * again with a savepoint around each message that calls a handler, so the failing one is undone
 * alone and deferred (or parked), and the saga's later messages queue behind it. (A participant
 * whose effects are outside the transaction runs with savepoints at once: its handlers run once
 * per attempt.) With `retry`, the single message is the head of its saga's deferred queue.
 */
export async function handleMessages(shell: Shell, messages: readonly DecodedMessage[], retry?: Retry): Promise<MessageOutcome[]> {
  if (!retry && (await foldOnly(shell, messages))) return messages.map(() => 'handled');
  // Handlers whose effects a rollback cannot undo are not run a second time to find the failing message.
  if (shell.p.effectsOutsideTransaction) return runBatch(shell, messages, retry, true);
  try {
    return await runBatch(shell, messages, retry, false);
  } catch (err) {
    if (!(err instanceof MessageFailed)) throw err;
    shell.log.debug({ messageId: err.messageId, err: (err.failure as Error)?.message }, 'a message of the batch failed; handling the batch again, one savepoint per message');
    return runBatch(shell, messages, retry, true);
  }
}

/**
 * A batch whose messages ask nothing of this service (the common case: most of a saga's messages
 * are only folded here), folded from the views in memory and recorded in one round trip. False
 * when some message asks for work, or the views in memory turned out stale: the batch then goes
 * the transactional way.
 */
async function foldOnly(shell: Shell, messages: readonly DecodedMessage[]): Promise<boolean> {
  const folded = new Map<string, StoredInstance>();
  const read = new Map<string, number>();
  for (const message of messages) {
    const sagaId = message.metadata.sagaId;
    let stored = folded.get(sagaId);
    if (!stored) {
      stored = shell.views.get(sagaId) ?? EMPTY_VIEW;
      read.set(sagaId, stored.rev);
    }
    let f: Folded;
    try {
      f = fold(shell, message, stored);
    } catch {
      // A message this service cannot fold (an instance of a version it was not given): the
      // transactional path parks it with its error, alone, and the partition moves on.
      return false;
    }
    if (f.asksForWork) return false;
    if (f.evolution.ignored) shell.log.debug({ sagaId, messageId: message.metadata.messageId, type: message.type, ignored: f.evolution.ignored }, 'message changed nothing');
    folded.set(sagaId, f.view);
  }
  const views = [...folded].map(([id, view]) => [id, { ...view, rev: read.get(id) as number }] as const);
  let saved = false;
  try {
    saved = await saveFoldOnly(shell.pool, shell.p.saga.name, messages, views);
  } finally {
    if (saved) for (const [id, view] of views) shell.views.set(id, { ...view, rev: view.rev + 1 });
    else shell.views.forget(folded.keys());
  }
  return saved;
}

interface Folded {
  evolution: ReturnType<typeof evolveVersioned>['evolution'];
  under: Participant;
  /** The definition the instance runs under (for a posted saga, its own). */
  definition: SagaDefinition;
  view: StoredInstance;
  own: Command[];
  timedOut: boolean;
  ends: boolean;
  /** A step of this service to run or undo, a deadline of one that passed, or an end to report. */
  asksForWork: boolean;
}

/** One message folded into a view: the new view, and what it asks of this service. Pure. */
function fold(shell: Shell, message: DecodedMessage, stored: StoredInstance): Folded {
  const { evolution, version, definition } = evolveVersioned(shell.definitions, stored.state, stored.version, instanceMessage(message));
  // (An instance of another saga under the same id folds to itself, ignored: its version is not one of ours.)
  const under = (version === undefined ? undefined : shell.versions.of(version)) ?? shell.p;
  const view: StoredInstance = {
    state: evolution.state,
    version,
    tenantId: stored.tenantId || message.metadata.tenantId,
    traceparent: stored.traceparent || message.metadata.traceparent,
    rev: stored.rev,
  };
  const own = shell.p.runsEveryStep ? [...evolution.commands] : evolution.commands.filter((c) => c.owner === shell.p.service);
  const timedOut = message.type === ENGINE_MESSAGES.stepTimedOut && evolution.state !== undefined;
  const ends = evolution.state !== undefined && isTerminal(evolution.state.status) && !(stored.state && isTerminal(stored.state.status)) && under.onEnd !== undefined;
  return { evolution, under, definition: definition ?? under.saga, view, own, timedOut, ends, asksForWork: own.length > 0 || timedOut || ends };
}

async function runBatch(shell: Shell, messages: readonly DecodedMessage[], retry: Retry | undefined, savepoints: boolean): Promise<MessageOutcome[]> {
  const rows: OutboxRow[] = [];
  const published: { type: string }[] = [];
  const sagaIds = [...new Set(messages.map((m) => m.metadata.sagaId))].sort();
  // Whatever happens to this transaction, the views in memory of its sagas are read again next time.
  shell.views.forget(sagaIds);
  let views = new Map<string, StoredInstance>();
  let revs = new Map<string, number>();
  const outcomes = await inTransaction(shell.pool, async (client) => {
    if (retry) {
      // Another instance of this service may be retrying it right now: only one does.
      const mine = await client.query('select 1 from sagaline_deferred where seq = $1 for update skip locked', [retry.seq]);
      if (mine.rowCount === 0) return messages.map(() => 'duplicate' as const);
    }
    // The inbox first: a message another transaction is handling (partitions moving) waits here for it, then counts as a duplicate.
    const { rows: [first] } = await client.query<{ fresh: string[] | null; queued: string[] | null }>(
      `with fresh as (
         insert into sagaline_inbox (message_id, saga_id, type)
         select * from unnest($1::uuid[], $2::text[], $3::text[]) on conflict do nothing returning message_id)
       select (select array_agg(message_id) from fresh) as fresh,
              (select array_agg(distinct saga_id) from sagaline_deferred where saga_id = any($4::text[]) and not $5) as queued`,
      [messages.map((m) => m.metadata.messageId), messages.map((m) => m.metadata.sagaId), messages.map((m) => m.type), sagaIds, retry !== undefined],
    );
    const fresh = new Set(first?.fresh ?? []);
    // A saga with a message waiting for a retry: its later messages wait behind it, in order.
    const queued = new Set(first?.queued ?? []);
    views = fresh.size > 0 ? await loadInstances(client, sagaIds) : new Map<string, StoredInstance>();
    const changed = new Set<string>();
    const notInInbox: string[] = [];
    const result: MessageOutcome[] = [];
    for (const message of messages) {
      const { sagaId, messageId } = message.metadata;
      // Only the first of two copies in one batch is fresh.
      if (!fresh.delete(messageId)) {
        result.push('duplicate');
        continue;
      }
      if (queued.has(sagaId)) {
        await defer(client, message, 0, null, false);
        notInInbox.push(messageId);
        result.push('deferred');
        continue;
      }
      const attemptNo = retry?.attemptNo ?? 1;
      const stored = views.get(sagaId) ?? EMPTY_VIEW;
      try {
        const handled = await handleOne(shell, client, message, stored, attemptNo, savepoints, retry?.skip === true);
        rows.push(...handled.rows);
        published.push(...handled.rows);
        views.set(sagaId, handled.view);
        changed.add(sagaId);
        if (retry) await client.query('delete from sagaline_deferred where seq = $1', [retry.seq]);
        result.push('handled');
      } catch (err) {
        if (!savepoints) throw new MessageFailed(messageId, err);
        const transient = isTransient(err);
        const failed = transient && typeof err === 'object' && err !== null ? attemptOf.get(err) : undefined;
        if (failed) {
          // The failed attempt goes to the log with the deferral, so audit shows every attempt.
          const payload: StepAttemptFailedPayload = { saga: shell.p.saga.name, step: failed.step, attempt: attemptNo, compensation: failed.compensation, reason: (err as Error).message };
          const note: OutgoingMessage = {
            type: ENGINE_MESSAGES.stepAttemptFailed as OutgoingMessage['type'],
            payload: payload as OutgoingMessage['payload'],
            metadata: { messageId: randomUUID(), sagaId, tenantId: stored.tenantId || message.metadata.tenantId, correlationId: sagaId, causationId: messageId, traceparent: message.metadata.traceparent || stored.traceparent },
          };
          rows.push(shell.writer.row(note));
          published.push(note);
        }
        const fields = { sagaId, messageId, type: message.type, attempt: attemptNo, err: (err as Error).message };
        if (transient) shell.log.warn(fields, retry ? 'transient failure; retrying later' : 'transient failure; deferred for a retry');
        else shell.log.error(fields, 'message failed with a non-transient error; parked');
        if (retry) {
          await client.query(
            `update sagaline_deferred set attempts = $2, last_error = $3,
               next_at = case when $5 then 'infinity'::timestamptz else now() + make_interval(secs => $4::double precision / 1000) end
             where seq = $1`,
            [retry.seq, attemptNo, `${transient ? '' : 'not retried: '}${(err as Error).message}`, backoffMs(attemptNo, Math.random), !transient],
          );
        } else {
          await defer(client, message, attemptNo, err, !transient);
        }
        notInInbox.push(messageId);
        queued.add(sagaId);
        result.push(transient ? 'deferred' : 'parked');
      }
    }
    // A deferred message is not handled yet: its retry records it.
    if (notInInbox.length > 0) await client.query('delete from sagaline_inbox where message_id = any($1::uuid[])', [notInInbox]);
    revs = await saveBatch(client, shell.writer.outboxTable, rows, shell.p.saga.name, [...changed].map((id) => [id, views.get(id) as StoredInstance]));
    return result;
  });
  for (const [id, view] of views) shell.views.set(id, { ...view, rev: revs.get(id) ?? view.rev });
  if (shell.metrics) countPublished(shell.metrics, published);
  return outcomes;
}

const EMPTY_VIEW: StoredInstance = { state: undefined, version: undefined, tenantId: '', traceparent: '', rev: 0 };

/** Queues a message for a retry (`attempts` 0: it only waits behind an earlier one of its saga), or parks it. */
async function defer(client: pg.ClientBase, message: DecodedMessage, attempts: number, error: unknown, park: boolean): Promise<void> {
  const delayMs = attempts === 0 ? 0 : backoffMs(attempts, Math.random);
  await client.query(
    `insert into sagaline_deferred (saga_id, message_id, message, attempts, next_at, last_error)
     values ($1, $2, $3, $4, case when $7 then 'infinity'::timestamptz else now() + make_interval(secs => $5::double precision / 1000) end, $6)
     on conflict (message_id) do nothing`,
    [message.metadata.sagaId, message.metadata.messageId, message, attempts, delayMs, error ? `${park ? 'not retried: ' : ''}${String((error as Error).message ?? error)}` : null, park],
  );
}

/**
 * Folds one message into the view and runs what it asks of this service (in a savepoint of the
 * batch's transaction when `savepoint`, undone alone if it throws). Returns the new view and the
 * outbox rows of its replies, to be written with the batch.
 */
async function handleOne(shell: Shell, client: pg.ClientBase, message: DecodedMessage, stored: StoredInstance, attemptNo: number, savepoint: boolean, skip = false): Promise<{ view: StoredInstance; rows: OutboxRow[] }> {
  const { log, writer } = shell;
  const sagaId = message.metadata.sagaId;
  const { evolution, under, definition, view, own, timedOut, ends, asksForWork } = fold(shell, message, stored);
  if (skip) {
    log.warn({ sagaId, messageId: message.metadata.messageId, type: message.type, notRun: own.map((c) => `${c.kind} ${c.step}`) }, 'message skipped by an operator: folded, its handlers not run');
    return { view, rows: [] };
  }
  if (!asksForWork) {
    // Folded only: nothing to write but the view, saved with the batch.
    if (evolution.ignored) log.debug({ sagaId, messageId: message.metadata.messageId, type: message.type, ignored: evolution.ignored }, 'message changed nothing');
    return { view, rows: [] };
  }
  return inHandlingSpans(shell.p.service, message, async () => {
    const rows: OutboxRow[] = [];
    if (savepoint) await client.query('savepoint sagaline_message');
    try {
      // The last attempt the longest retry limit among this message's steps allows gives up instead of retrying.
      const final = attemptNo >= Math.max(1, ...own.map((c) => 1 + stepOf(definition, c.step).retryLimit));
      for (const command of own) {
        const reply = await runCommand(shell, under, definition, client, command, evolution.state as InstanceState, view, message, attemptNo, final);
        // Checked and encoded now, so a reply its schema refuses fails this message, not the batch.
        if (reply !== null) rows.push(writer.row(reply));
      }
      if (timedOut) await cancelTimedOut(shell, under, definition, client, evolution.state as InstanceState, message);
      if (ends) await under.onEnd?.({ saga: evolution.state as InstanceState, tx: client });
      if (savepoint) await client.query('release savepoint sagaline_message');
    } catch (err) {
      if (savepoint) await client.query('rollback to savepoint sagaline_message');
      throw err;
    }
    log.info({ sagaId, messageId: message.metadata.messageId, type: message.type, attempt: attemptNo, published: rows.map((r) => r.type), sagaStatus: evolution.state?.status }, 'handled');
    return { view, rows };
  });
}

/** A step of this service that returned later() and whose deadline has now passed: its work is cancelled, once. */
async function cancelTimedOut(shell: Shell, p: Participant, definition: SagaDefinition, client: pg.ClientBase, saga: InstanceState, message: DecodedMessage): Promise<void> {
  const name = (message.payload as { step?: unknown } | undefined)?.step;
  const step = typeof name === 'string' ? stepNamed(definition, name) : undefined;
  if (!step || (step.owner !== p.service && !p.runsEveryStep)) return;
  const pending = await client.query('delete from sagaline_pending where saga_id = $1 and step = $2', [saga.sagaId, step.name]);
  if (pending.rowCount === 0) return;
  const cancel = handlersOf(p, definition, step)?.cancel;
  if (cancel) await cancel({ saga, step: step.name, message: { type: message.type, payload: message.payload, metadata: message.metadata }, tx: client, attempt: 1 });
  shell.log.warn({ sagaId: saga.sagaId, step: step.name, cancelHandler: cancel !== undefined }, 'step deadline passed before its outcome was reported; cancelled');
}

/** The outcome of a later() step, reported by the service: its reply, caused by the message that started it. */
async function completeStep(shell: Shell, client: pg.ClientBase, report: { sagaId: string; step: string; outcome: StepOutcome }): Promise<boolean> {
  const { sagaId, step: name, outcome } = report;
  const p = shell.p;
  const step = stepNamed(p.saga, name);
  if (!step || step.owner !== p.service) throw new ConfigError(`complete(): ${p.service} owns no step ${JSON.stringify(name)} in ${p.saga.name}`);
  checkOutcome(step, 'complete', outcome);
  if (outcome.outcome !== 'succeeded' && outcome.outcome !== 'failed') throw new SagalineError('BAD_STEP_OUTCOME', `complete() of ${name} takes ok(payload) or fail(reason), got ${JSON.stringify(outcome)}`);
  const { rows: [pending] } = await client.query<{ cause_message_id: string; tenant_id: string | null; traceparent: string | null }>(
    `with done as (delete from sagaline_pending where saga_id = $1 and step = $2 returning cause_message_id)
     select done.cause_message_id, i.tenant_id, i.traceparent from done left join sagaline_instances i on i.saga_id = $1`,
    [sagaId, name],
  );
  if (!pending) return false;
  const row = { tenant_id: pending.tenant_id ?? '', traceparent: pending.traceparent ?? '' };
  const reply: OutgoingMessage = {
    type: (outcome.outcome === 'succeeded' ? step.succeeded : step.failed) as OutgoingMessage['type'],
    payload: outcome.payload as OutgoingMessage['payload'],
    metadata: { messageId: randomUUID(), sagaId, tenantId: row?.tenant_id || 'unknown', correlationId: sagaId, causationId: pending.cause_message_id, traceparent: row?.traceparent ?? '' },
  };
  // Its span (tracing on) continues the saga's trace: the reply's outbox write is its child.
  await inSpan(`complete ${name}`, { traceparent: row.traceparent, messageFirst: true, attributes: { 'sagaline.saga_id': sagaId, 'sagaline.service': p.service, 'sagaline.step': name } }, () => shell.writer.publish(client, reply));
  if (shell.metrics) countPublished(shell.metrics, [reply]);
  shell.log.info({ sagaId, step: name, published: [reply.type] }, 'step outcome reported');
  return true;
}

function stepOf(definition: SagaDefinition, name: string): DefinedStep {
  return stepNamed(definition, name) as DefinedStep;
}

/** A step's handlers: the participant's for that step, or (a participant of posted sagas) those it makes for the instance's step. */
function handlersOf(p: Participant, definition: SagaDefinition, step: DefinedStep): StepHandlers | undefined {
  return p.handlersFor ? p.handlersFor(step, definition) : p.steps[step.name];
}

/**
 * Runs one step (or its compensation); on the final attempt, in a savepoint, so that a transient
 * failure is undone alone and becomes the step's failure. Null: the step goes on (`later()`), its outcome reported afterwards.
 */
async function runCommand(shell: Shell, p: Participant, definition: SagaDefinition, client: pg.ClientBase, command: Command, saga: InstanceState, stored: StoredInstance, cause: DecodedMessage, attemptNo: number, final: boolean): Promise<OutgoingMessage | null> {
  const step = stepOf(definition, command.step);
  const handlers = handlersOf(p, definition, step);
  if (!handlers) throw new SagalineError('NO_STEP_HANDLER', `${p.service} has no handler for step ${step.name} of ${definition.name}`);
  const input: StepInput = { saga, step: step.name, message: { type: cause.type, payload: cause.payload, metadata: cause.metadata }, tx: client, attempt: attemptNo };
  const replyWith = (type: string, payload: unknown): OutgoingMessage => ({
    type: type as OutgoingMessage['type'],
    payload: payload as OutgoingMessage['payload'],
    metadata: {
      messageId: randomUUID(),
      sagaId: saga.sagaId,
      tenantId: stored.tenantId || 'unknown',
      correlationId: saga.sagaId,
      causationId: cause.metadata.messageId,
      traceparent: cause.metadata.traceparent || stored.traceparent,
    },
  });
  // Only the last attempt needs to undo a step alone (to write its failure instead); earlier ones fail the whole message.
  if (final) await client.query('savepoint sagaline_step');
  try {
    if (command.kind === 'run') {
      const outcome = checkOutcome(step, 'act', await handlers.act(input));
      if (final) await client.query('release savepoint sagaline_step');
      if (outcome.outcome === 'later') {
        await client.query('insert into sagaline_pending (saga_id, step, cause_message_id) values ($1, $2, $3) on conflict do nothing', [saga.sagaId, step.name, cause.metadata.messageId]);
        return null;
      }
      return outcome.outcome === 'succeeded' ? replyWith(step.succeeded, outcome.payload) : replyWith(step.failed, outcome.payload);
    }
    const result = saga.steps[step.name]?.result;
    const returned = await (handlers.compensate as NonNullable<typeof handlers.compensate>)({ ...input, result });
    const outcome = checkOutcome(step, 'compensate', returned ?? { outcome: 'succeeded', payload: {} });
    if (outcome.outcome === 'later') throw new SagalineError('BAD_STEP_OUTCOME', `compensate() of ${step.name} returned later(); a compensation is done in its transaction — throw a TransientError to retry it`);
    if (outcome.outcome === 'failed') {
      throw new SagalineError('COMPENSATION_REFUSED', `compensate() of ${step.name} returned a business failure (${outcome.reason}); a compensation must succeed — throw a TransientError to retry it`);
    }
    if (final) await client.query('release savepoint sagaline_step');
    return replyWith(step.compensatedBy as string, outcome.payload);
  } catch (err) {
    if (!final || !isTransient(err)) {
      if (typeof err === 'object' && err !== null && isTransient(err)) attemptOf.set(err, { step: step.name, compensation: command.kind === 'compensate' });
      throw err;
    }
    await client.query('rollback to savepoint sagaline_step');
    const reason = `gave up after ${attemptNo} attempts: ${(err as Error).message}`;
    shell.log.warn({ sagaId: saga.sagaId, step: step.name, compensation: command.kind === 'compensate', attempts: attemptNo, err: (err as Error).message }, 'retries exhausted');
    if (command.kind === 'compensate') {
      const payload: CompensationFailedPayload = { saga: definition.name, step: step.name, attempts: attemptNo, reason };
      return replyWith(ENGINE_MESSAGES.compensationFailed, payload);
    }
    return replyWith(step.failed, handlers.failurePayload ? handlers.failurePayload(reason, saga) : { reason });
  }
}

function checkOutcome(step: DefinedStep, handler: string, value: unknown): ActOutcome {
  const o = value as { outcome?: unknown; reason?: unknown } | undefined;
  if (o && (o.outcome === 'succeeded' || o.outcome === 'later' || (o.outcome === 'failed' && typeof o.reason === 'string'))) return o as ActOutcome;
  throw new SagalineError('BAD_STEP_OUTCOME', `${handler}() of ${step.name} returned ${JSON.stringify(value)}; return ok(payload) or fail(reason)${handler === 'act' ? ', or later()' : ''}`);
}

/** Retries the deferred messages that are due, oldest first per saga; each in its own transaction. */
export async function retryDeferred(shell: Shell): Promise<number> {
  const heads = (
    await shell.pool.query(
      `select seq::text, message, attempts, skip from sagaline_deferred d
        where next_at <= now() and seq = (select min(seq) from sagaline_deferred e where e.saga_id = d.saga_id)
        order by seq limit 50`,
    )
  ).rows as { seq: string; message: DecodedMessage; attempts: number; skip: boolean }[];
  for (const head of heads) await handleMessages(shell, [head.message], { seq: head.seq, attemptNo: head.attempts + 1, ...(head.skip ? { skip: true } : {}) });
  return heads.length;
}
