/**
 * Messages a participant parked, and sagas that are stuck, as an operator deals with them.
 *
 * A handler's non-transient error parks its message in the participant's own database
 * (`sagaline_deferred`, never retried on its own) and the saga's later messages there queue behind
 * it. An operator then resumes it (after fixing the cause: it is handled again) or skips it (it is
 * recorded as handled without being acted on, and the queue behind it moves). Either way the action
 * is first written to the saga's log (ParkedMessageResumed / ParkedMessageSkipped: who, why, which
 * message and its error), so audit shows it; the fold of the saga ignores it.
 *
 * Stuck sagas are those waiting on a parked message, and those past a step's deadline with no
 * verdict from the monitor (which fires deadlines: it is not running, or far behind).
 */
import pg from 'pg';
import { pgPool } from '../../core/clients.ts';
import type { Config } from '../../core/config.ts';
import { SagalineError } from '../../core/errors.ts';
import { newId, newTraceparent } from '../../core/ids.ts';
import { inTransaction } from '../../core/transaction.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { sagaContracts, type ParkedMessageActionPayload } from '../../schemas/saga-contracts.ts';
import { byName, sagaTopic } from '../../topics/derived.ts';
import { ENGINE_MESSAGES, type InstanceStatus, type OperatorAction } from '../saga/instance.ts';
import type { DecodedMessage } from '../runtime/decode.ts';
import { SAGAS_DATABASE } from './monitor.ts';
import type { Project } from './project.ts';

export interface ParkedMessage {
  service: string;
  database: string;
  saga: string;
  sagaId: string;
  messageId: string;
  type: string;
  /** Attempts made before it was parked. */
  attempts: number;
  error: string;
}

export interface StuckSaga {
  sagaId: string;
  saga: string;
  status: InstanceStatus;
  reason: string;
}

/** How long past a deadline, with the saga still waiting, before it counts as stuck (the monitor looks every poll). */
export const STUCK_AFTER_DEADLINE_MS = 30_000;

const topicToSaga = (project: Project) => new Map([...byName(project.sagas)].map(([name, versions]) => [sagaTopic(versions).name, name]));

/** Every parked message in the project's participants' databases (or one service's, one saga's). */
export async function parkedMessages(config: Config, project: Project, filter: { service?: string; sagaId?: string } = {}): Promise<ParkedMessage[]> {
  if (filter.service !== undefined && !project.participants.some((p) => p.service === filter.service)) {
    throw new SagalineError('REQUEST_INVALID', `${project.file} has no participant of service ${JSON.stringify(filter.service)} (it has ${[...new Set(project.participants.map((p) => p.service))].join(', ') || 'none'})`);
  }
  const sagaOf = topicToSaga(project);
  const found: ParkedMessage[] = [];
  for (const database of [...new Set(project.participants.map((p) => p.database))].sort()) {
    const pool = pgPool(config, database, 1);
    try {
      const rows = await pool
        .query<{ saga_id: string; message_id: string; message: DecodedMessage; attempts: number; last_error: string | null }>(
          "select saga_id, message_id::text, message, attempts, last_error from sagaline_deferred where next_at = 'infinity' and ($1::text is null or saga_id = $1) order by seq",
          [filter.sagaId ?? null],
        )
        .then((r) => r.rows)
        .catch((err: { code?: string }) => {
          if (err.code === '42P01' || err.code === '3D000') return []; // never provisioned, or never run
          throw err;
        });
      for (const r of rows) {
        const saga = sagaOf.get(r.message.kafka?.topic) ?? '';
        const service = project.participants.find((p) => p.database === database && p.saga.name === saga)?.service ?? project.participants.find((p) => p.database === database)!.service;
        if (filter.service !== undefined && service !== filter.service) continue;
        found.push({ service, database, saga, sagaId: r.saga_id, messageId: r.message_id, type: r.message.type, attempts: r.attempts, error: (r.last_error ?? '').replace(/^not retried: /, '') });
      }
    } finally {
      await pool.end();
    }
  }
  return found;
}

export interface ParkedActionResult {
  sagaId: string;
  service: string;
  messageId: string;
  type: string;
  /** The message written to the saga's log for this action. */
  recordedAs: string;
}

function checkAction(action: OperatorAction): void {
  for (const field of ['by', 'reason'] as const) {
    if (typeof action?.[field] !== 'string' || action[field].trim() === '' || action[field].length > 1000) throw new SagalineError('REQUEST_INVALID', `${field} is required (who acts, and why: both are recorded), as text of at most 1000 characters`);
  }
}

/** The one message of `sagaId` parked at `service`: a PARKED_MESSAGE_NOT_FOUND naming where its messages are parked otherwise. */
async function theParked(config: Config, project: Project, sagaId: string, service: string): Promise<ParkedMessage> {
  if (typeof service !== 'string' || service === '') throw new SagalineError('REQUEST_INVALID', 'service is required: the participant that parked the message');
  const all = await parkedMessages(config, project, { sagaId });
  const mine = all.find((m) => m.service === service);
  if (!project.participants.some((p) => p.service === service)) throw new SagalineError('REQUEST_INVALID', `${project.file} has no participant of service ${JSON.stringify(service)}`);
  if (!mine) {
    const elsewhere = all.map((m) => m.service);
    throw new SagalineError('PARKED_MESSAGE_NOT_FOUND', `no message of saga ${sagaId} is parked at ${service}${elsewhere.length ? ` (one is at ${elsewhere.join(', ')})` : ''}`);
  }
  return mine;
}

/** Writes the action to the saga's log, through the engine's outbox, before the participant's database is touched. */
async function record(config: Config, project: Project, parked: ParkedMessage, type: string, action: OperatorAction, tenantId: string): Promise<string> {
  const versions = byName(project.sagas).get(parked.saga);
  if (!versions) throw new SagalineError('PARKED_MESSAGE_NOT_FOUND', `the parked message ${parked.messageId} is on no saga topic of ${project.file}`);
  const topic = sagaTopic(versions);
  const writer = await OutboxWriter.create(config.schemaRegistry, sagaContracts(project.schemas, project.sagas), { topics: [topic] });
  const payload: ParkedMessageActionPayload = { saga: parked.saga, service: parked.service, messageId: parked.messageId, messageType: parked.type, error: parked.error, by: action.by, reason: action.reason };
  const messageId = newId();
  const message = { type: type as never, payload: payload as never, metadata: { messageId, sagaId: parked.sagaId, tenantId, correlationId: parked.sagaId, causationId: parked.messageId, traceparent: newTraceparent() } };
  writer.validate(message, topic.name);
  const pool = pgPool(config, SAGAS_DATABASE, 1);
  try {
    await inTransaction(pool, (tx) => writer.publish(tx, message, topic.name));
  } finally {
    await pool.end();
  }
  return messageId;
}

async function inParticipant<T>(config: Config, database: string, work: (tx: pg.ClientBase) => Promise<T>): Promise<T> {
  const pool = pgPool(config, database, 1);
  try {
    return await inTransaction(pool, work);
  } finally {
    await pool.end();
  }
}

/**
 * One action on the parked message, all or nothing on the participant's side: its row is locked
 * (another operator's resume or skip waits, then finds nothing to act on), the action is written to
 * the saga's log, then the row changed and the lock released. Nothing parked any more: nothing written.
 */
async function actOnParked(config: Config, project: Project, sagaId: string, service: string, action: OperatorAction, type: string, change: string): Promise<ParkedActionResult> {
  checkAction(action);
  const parked = await theParked(config, project, sagaId, service);
  return inParticipant(config, parked.database, async (tx) => {
    const { rows } = await tx.query<{ tenant: string | null }>("select message->'metadata'->>'tenantId' as tenant from sagaline_deferred where message_id = $1 and next_at = 'infinity' for update", [parked.messageId]);
    if (rows.length === 0) throw new SagalineError('PARKED_MESSAGE_NOT_FOUND', `message ${parked.messageId} of saga ${sagaId} is no longer parked at ${service} (resumed or skipped meanwhile)`);
    const recordedAs = await record(config, project, parked, type, action, rows[0]?.tenant ?? '');
    await tx.query(`update sagaline_deferred set ${change} where message_id = $1`, [parked.messageId]);
    return { sagaId, service, messageId: parked.messageId, type: parked.type, recordedAs };
  });
}

/** Handles the parked message again (after its cause was fixed), with its retries afresh; it parks again if it fails the same way. */
export function resumeParked(config: Config, project: Project, sagaId: string, service: string, action: OperatorAction): Promise<ParkedActionResult> {
  // Due now: the participant's retry poller handles it as the head of the saga's queue.
  return actOnParked(config, project, sagaId, service, action, ENGINE_MESSAGES.parkedMessageResumed, 'next_at = now(), attempts = 0');
}

/**
 * Records the parked message as handled without acting on it: on its next turn the participant
 * folds it into its view of the saga and its inbox, runs none of its handlers, and the saga's later
 * messages there go on. (A participant not running does it when it starts.)
 */
export function skipParked(config: Config, project: Project, sagaId: string, service: string, action: OperatorAction): Promise<ParkedActionResult> {
  return actOnParked(config, project, sagaId, service, action, ENGINE_MESSAGES.parkedMessageSkipped, 'next_at = now(), skip = true');
}

/** Sagas waiting on a parked message, and sagas past a deadline the monitor has not ruled on: each with why. */
export async function stuckSagas(config: Config, project: Project, graceMs = STUCK_AFTER_DEADLINE_MS): Promise<StuckSaga[]> {
  const names = [...byName(project.sagas).keys()];
  const pool = pgPool(config, SAGAS_DATABASE, 1);
  try {
    const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]) =>
      (
        await pool.query<R>(sql, params).catch((err: { code?: string }) => {
          if (err.code === '42P01') return { rows: [] as R[] }; // the monitor never ran here
          throw err;
        })
      ).rows;
    const late = await query<{ saga_id: string; saga: string; status: InstanceStatus; next_deadline: Date }>(
      "select saga_id, saga, status, next_deadline from saga_instances where status in ('Running', 'Compensating') and next_deadline < now() - make_interval(secs => $2::double precision / 1000) and saga = any($1) order by next_deadline",
      [names, graceMs],
    );
    const stuck: StuckSaga[] = late.map((r) => ({ sagaId: r.saga_id, saga: r.saga, status: r.status, reason: `a step's deadline passed at ${r.next_deadline.toISOString()} with no verdict: is the saga monitor running?` }));
    const parked = await parkedMessages(config, project);
    const statuses = new Map((await query<{ saga_id: string; status: InstanceStatus }>('select saga_id, status from saga_instances where saga_id = any($1)', [parked.map((p) => p.sagaId)])).map((r) => [r.saga_id, r.status]));
    for (const p of parked) {
      stuck.push({ sagaId: p.sagaId, saga: p.saga, status: statuses.get(p.sagaId) ?? 'Running', reason: `its ${p.type} is parked at ${p.service} after ${p.attempts} attempt(s): ${p.error} (resume or skip it)` });
    }
    return stuck;
  } finally {
    await pool.end();
  }
}
