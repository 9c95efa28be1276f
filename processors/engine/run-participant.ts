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
import { sagaContracts, type CompensationFailedPayload } from '../../schemas/saga-contracts.ts';
import { sagaTopic, sagaTopicMessages } from '../../topics/derived.ts';
import { runDecodingConsumer } from '../runtime/consumer.ts';
import type { DecodedMessage } from '../runtime/decode.ts';
import { countConsumed, countPublished, timed, type ProcessorMetrics } from '../runtime/metrics.ts';
import { backoffMs, isTransient } from '../runtime/transient.ts';
import type { DefinedStep } from '../saga/define-saga.ts';
import { ENGINE_MESSAGES, isTerminal, type Command, type InstanceState } from '../saga/instance.ts';
import type { SagaDefinition } from '../saga/define-saga.ts';
import { evolveVersioned, versionsOf, type Versions } from './versions.ts';
import type { ActOutcome, Complete, Participant, StepInput, StepOutcome } from './participant.ts';
import { inTransaction, instanceMessage, loadInstance, PARTICIPANT_DDL, saveInstance, type StoredInstance } from './tables.ts';

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
}

/** Every failure message the engine may have to write itself must accept `{ reason }`, unless the step says how to fill it. */
function checkFailurePayloads(p: Participant, contracts: Contracts): void {
  const problems: string[] = [];
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
  const log = (options.logger ?? createLogger(config, p.service)).child({ service: p.service, saga: p.saga.name });
  const contracts = sagaContracts(options.schemas, definitions.all);
  for (const version of versions.all) checkFailurePayloads(version, contracts);
  const topic = sagaTopic(definitions.all);
  const writer = await OutboxWriter.create(config.schemaRegistryUrl, contracts, { topics: [topic] });
  const pool = pgPool(config, p.database, 5, (err) => log.warn({ err: err.message, database: p.database }, 'idle database connection lost; the pool reconnects on demand'));
  try {
    const client = await pool.connect();
    try {
      for (const statement of [...PARTICIPANT_DDL, ...p.ddl]) await client.query(statement);
    } finally {
      client.release();
    }
    const shell: Shell = { p, versions, definitions, pool, writer, log, ...(options.metrics ? { metrics: options.metrics } : {}) };
    const consumer = await runDecodingConsumer({
      kafka: kafkaClient(config, participantGroup(p)),
      registry: registryClient(config),
      groupId: participantGroup(p),
      topics: [topic.name],
      fromBeginning: config.saga.consumerStart === 'earliest',
      sessionTimeoutMs: config.saga.sessionTimeoutMs,
      catalogue: sagaTopicMessages(definitions.all),
      log,
      handle: async (message) => {
        if (shell.metrics) countConsumed(shell.metrics, message.kafka.topic, message.type);
        await (shell.metrics ? timed(shell.metrics, () => handle(shell, message)) : handle(shell, message));
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

export async function handle(shell: Shell, message: DecodedMessage): Promise<'handled' | 'duplicate' | 'deferred' | 'parked'> {
  const sagaId = message.metadata.sagaId;
  const queued = await shell.pool.query('select 1 from sagaline_deferred where saga_id = $1 limit 1', [sagaId]);
  if ((queued.rowCount ?? 0) > 0) {
    await defer(shell.pool, message, 0, null, false);
    return 'deferred';
  }
  try {
    return await attempt(shell, message, 1);
  } catch (err) {
    const transient = isTransient(err);
    const fields = { sagaId, messageId: message.metadata.messageId, type: message.type, err: (err as Error).message };
    if (transient) shell.log.warn({ ...fields, attempt: 1 }, 'transient failure; deferred for a retry');
    else shell.log.error(fields, 'message failed with a non-transient error; parked');
    await defer(shell.pool, message, 1, err, !transient);
    return transient ? 'deferred' : 'parked';
  }
}

async function defer(pool: pg.Pool, message: DecodedMessage, attempts: number, error: unknown, park: boolean): Promise<void> {
  const delayMs = attempts === 0 ? 0 : backoffMs(attempts, Math.random);
  await pool.query(
    `insert into sagaline_deferred (saga_id, message_id, message, attempts, next_at, last_error)
     values ($1, $2, $3, $4, case when $7 then 'infinity'::timestamptz else now() + make_interval(secs => $5::double precision / 1000) end, $6)
     on conflict (message_id) do nothing`,
    [message.metadata.sagaId, message.metadata.messageId, message, attempts, delayMs, error ? `${park ? 'not retried: ' : ''}${String((error as Error).message ?? error)}` : null, park],
  );
}

/** One attempt at a message, in one transaction; with `deferredSeq`, its deferred row goes in the same transaction. */
async function attempt(shell: Shell, message: DecodedMessage, attemptNo: number, deferredSeq?: string): Promise<'handled' | 'duplicate'> {
  const { p, writer, log } = shell;
  const sagaId = message.metadata.sagaId;
  const published: OutgoingMessage[] = [];
  const outcome = await inTransaction(shell.pool, async (client) => {
    if (deferredSeq !== undefined) await client.query('delete from sagaline_deferred where seq = $1', [deferredSeq]);
    const fresh = await client.query('insert into sagaline_inbox (message_id, saga_id, type) values ($1, $2, $3) on conflict do nothing', [message.metadata.messageId, sagaId, message.type]);
    if (fresh.rowCount === 0) return 'duplicate' as const;
    const stored = await loadInstance(client, p.saga.name, sagaId);
    const { evolution, version } = evolveVersioned(shell.definitions, stored.state, stored.version, instanceMessage(message));
    const under = version === undefined ? p : (shell.versions.of(version) as Participant);
    const next: StoredInstance = {
      state: evolution.state,
      version,
      tenantId: stored.tenantId || message.metadata.tenantId,
      traceparent: stored.traceparent || message.metadata.traceparent,
    };
    const own = evolution.commands.filter((c) => c.owner === p.service);
    // The last attempt the longest retry limit among this message's steps allows gives up instead of retrying.
    const final = attemptNo >= Math.max(1, ...own.map((c) => 1 + stepOf(under, c.step).retryLimit));
    for (const command of own) {
      const reply = await runCommand(shell, under, client, command, evolution.state as InstanceState, next, message, attemptNo, final);
      if (reply === null) continue;
      await writer.publish(client, reply);
      published.push(reply);
    }
    if (message.type === ENGINE_MESSAGES.stepTimedOut && evolution.state) await cancelTimedOut(shell, under, client, evolution.state, message);
    if (evolution.state && isTerminal(evolution.state.status) && !(stored.state && isTerminal(stored.state.status)) && under.onEnd) {
      await under.onEnd({ saga: evolution.state, tx: client });
    }
    await saveInstance(client, sagaId, next);
    log.info({ sagaId, messageId: message.metadata.messageId, type: message.type, attempt: attemptNo, published: published.map((m) => m.type), sagaStatus: evolution.state?.status, ...(evolution.ignored ? { ignored: evolution.ignored } : {}) }, 'handled');
    return 'handled' as const;
  });
  if (shell.metrics) countPublished(shell.metrics, published);
  return outcome;
}

/** A step of this service that returned later() and whose deadline has now passed: its work is cancelled, once. */
async function cancelTimedOut(shell: Shell, p: Participant, client: pg.ClientBase, saga: InstanceState, message: DecodedMessage): Promise<void> {
  const name = (message.payload as { step?: unknown } | undefined)?.step;
  const step = typeof name === 'string' ? p.saga.steps.find((s) => s.name === name && s.owner === p.service) : undefined;
  if (!step) return;
  const pending = await client.query('delete from sagaline_pending where saga_id = $1 and step = $2', [saga.sagaId, step.name]);
  if (pending.rowCount === 0) return;
  const cancel = p.steps[step.name]?.cancel;
  if (cancel) await cancel({ saga, step: step.name, message: { type: message.type, payload: message.payload, metadata: message.metadata }, tx: client, attempt: 1 });
  shell.log.warn({ sagaId: saga.sagaId, step: step.name, cancelHandler: cancel !== undefined }, 'step deadline passed before its outcome was reported; cancelled');
}

/** The outcome of a later() step, reported by the service: its reply, caused by the message that started it. */
async function completeStep(shell: Shell, client: pg.ClientBase, report: { sagaId: string; step: string; outcome: StepOutcome }): Promise<boolean> {
  const { sagaId, step: name, outcome } = report;
  const p = shell.p;
  const step = p.saga.steps.find((s) => s.name === name);
  if (!step || step.owner !== p.service) throw new ConfigError(`complete(): ${p.service} owns no step ${JSON.stringify(name)} in ${p.saga.name}`);
  checkOutcome(step, 'complete', outcome);
  if (outcome.outcome !== 'succeeded' && outcome.outcome !== 'failed') throw new SagalineError('BAD_STEP_OUTCOME', `complete() of ${name} takes ok(payload) or fail(reason), got ${JSON.stringify(outcome)}`);
  const pending = (await client.query<{ cause_message_id: string }>('delete from sagaline_pending where saga_id = $1 and step = $2 returning cause_message_id', [sagaId, name])).rows[0];
  if (!pending) return false;
  const row = (await client.query<{ tenant_id: string; traceparent: string }>('select tenant_id, traceparent from sagaline_instances where saga_id = $1', [sagaId])).rows[0];
  const reply: OutgoingMessage = {
    type: (outcome.outcome === 'succeeded' ? step.succeeded : step.failed) as OutgoingMessage['type'],
    payload: outcome.payload as OutgoingMessage['payload'],
    metadata: { messageId: randomUUID(), sagaId, tenantId: row?.tenant_id || 'unknown', correlationId: sagaId, causationId: pending.cause_message_id, traceparent: row?.traceparent ?? '' },
  };
  await shell.writer.publish(client, reply);
  if (shell.metrics) countPublished(shell.metrics, [reply]);
  shell.log.info({ sagaId, step: name, published: [reply.type] }, 'step outcome reported');
  return true;
}

function stepOf(p: Participant, name: string): DefinedStep {
  return p.saga.steps.find((s) => s.name === name) as DefinedStep;
}

/**
 * Runs one step (or its compensation) in a savepoint; on the final attempt a transient failure
 * becomes the step's failure. Null: the step goes on (`later()`), its outcome reported afterwards.
 */
async function runCommand(shell: Shell, p: Participant, client: pg.ClientBase, command: Command, saga: InstanceState, stored: StoredInstance, cause: DecodedMessage, attemptNo: number, final: boolean): Promise<OutgoingMessage | null> {
  const step = stepOf(p, command.step);
  const handlers = p.steps[step.name]!;
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
  await client.query('savepoint sagaline_step');
  try {
    if (command.kind === 'run') {
      const outcome = checkOutcome(step, 'act', await handlers.act(input));
      await client.query('release savepoint sagaline_step');
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
    await client.query('release savepoint sagaline_step');
    return replyWith(step.compensatedBy as string, outcome.payload);
  } catch (err) {
    if (!final || !isTransient(err)) throw err;
    await client.query('rollback to savepoint sagaline_step');
    const reason = `gave up after ${attemptNo} attempts: ${(err as Error).message}`;
    shell.log.warn({ sagaId: saga.sagaId, step: step.name, compensation: command.kind === 'compensate', attempts: attemptNo, err: (err as Error).message }, 'retries exhausted');
    if (command.kind === 'compensate') {
      const payload: CompensationFailedPayload = { saga: p.saga.name, step: step.name, attempts: attemptNo, reason };
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

/** Retries the deferred messages that are due, oldest first per saga. */
export async function retryDeferred(shell: Shell): Promise<number> {
  const heads = (
    await shell.pool.query(
      `select seq::text, message, attempts from sagaline_deferred d
        where next_at <= now() and seq = (select min(seq) from sagaline_deferred e where e.saga_id = d.saga_id)
        order by seq limit 50`,
    )
  ).rows as { seq: string; message: DecodedMessage; attempts: number }[];
  for (const head of heads) {
    const attemptNo = head.attempts + 1;
    try {
      await attempt(shell, head.message, attemptNo, head.seq);
    } catch (err) {
      const fields = { sagaId: head.message.metadata.sagaId, messageId: head.message.metadata.messageId, type: head.message.type, err: (err as Error).message, attempt: attemptNo };
      if (!isTransient(err)) {
        shell.log.error(fields, 'message failed with a non-transient error; parked');
        await shell.pool.query("update sagaline_deferred set attempts = $2, next_at = 'infinity', last_error = $3 where seq = $1", [head.seq, attemptNo, `not retried: ${(err as Error).message}`]);
        continue;
      }
      shell.log.warn(fields, 'transient failure; retrying later');
      await shell.pool.query(
        'update sagaline_deferred set attempts = $2, next_at = now() + make_interval(secs => $3::double precision / 1000), last_error = $4 where seq = $1',
        [head.seq, attemptNo, backoffMs(attemptNo, Math.random), (err as Error).message],
      );
    }
  }
  return heads.length;
}
