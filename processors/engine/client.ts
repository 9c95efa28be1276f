/**
 * Starting sagas and reading where they stand. `start` validates the start message against its
 * schema (a MessageValidationError naming the field, before anything is written) and writes it to
 * an outbox: the engine's own by default, or — given `tx` — the caller's, in the caller's own
 * transaction, so a saga starts if and only if the business change that asked for it commits.
 */
import type pg from 'pg';
import { pgPool } from '../../core/clients.ts';
import { loadConfig } from '../../core/config.ts';
import { ConfigError, SagalineError } from '../../core/errors.ts';
import { newId, newTraceparent } from '../../core/ids.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { sagaContracts, type OperatorActionPayload, type SagaStartedPayload } from '../../schemas/saga-contracts.ts';
import { inTransaction } from '../../core/transaction.ts';
import { SAGA_STARTED } from './versions.ts';
import { byName, sagaTopic } from '../../topics/derived.ts';
import { definitionOfInstance, type SagaDefinition } from '../saga/define-saga.ts';
import { ENGINE_MESSAGES, evolveInstance, type InstanceState, type InstanceStatus, type OperatorAction } from '../saga/instance.ts';
import { SAGAS_DATABASE } from './monitor.ts';
import type { RunOptions } from './run-participant.ts';
import { fetchSagaPage, type SagaListFilter } from './saga-list.ts';
import { SpanKind, startSpan, startTracing, traceparentOf } from '../../core/tracing.ts';

export interface StartOptions {
  /**
   * Default: a new UUID. Starting the same id twice starts one saga (the second start is ignored by
   * the fold). An id that is already an instance of another saga is refused (SagaIdTakenError).
   */
  sagaId?: string;
  tenantId: string;
  traceparent?: string;
  /** Write the start in this transaction (of a database provisioned for the saga) instead of the engine's. */
  tx?: pg.ClientBase;
}

/** What an operator action was written as, and the status the saga takes on once it is folded. */
export interface ActionTaken {
  sagaId: string;
  messageId: string;
  type: string;
  status: InstanceStatus;
}

/** An operator action the saga's state does not allow: nothing was written. */
export class ActionRefusedError extends SagalineError {
  constructor(message: string) {
    super('ACTION_REFUSED', message);
  }
}

/** The id asked for is an instance of another saga already: ids find instances across every saga, so each is used once. */
export class SagaIdTakenError extends SagalineError {
  constructor(sagaId: string, saga: string, heldBy: string) {
    super('SAGA_ID_TAKEN', `saga id ${JSON.stringify(sagaId)} is already an instance of ${heldBy}; an instance of ${saga} needs an id of its own`);
  }
}

export interface SagaRecord {
  sagaId: string;
  saga: string;
  version: number;
  status: InstanceStatus;
  tenantId: string;
  startedAt: Date;
  updatedAt: Date;
  endedAt: Date | null;
  state: InstanceState;
}

export interface SagaClient {
  start(saga: SagaDefinition, payload: unknown, options: StartOptions): Promise<string>;
  /** The monitor's projection of one instance; undefined until its first message is projected. */
  get(sagaId: string): Promise<SagaRecord | undefined>;
  /** Instances of this client's sagas, newest first: the first page of `page(filter)`. */
  list(filter?: SagaListFilter): Promise<SagaRecord[]>;
  /** One page of instances, newest first; `next` (null on the last page) is the `after` of the page that follows. */
  page(filter?: SagaListFilter): Promise<{ sagas: SagaRecord[]; next: string | null }>;
  /**
   * Cancels a running saga: what has run is compensated. Refused (ActionRefusedError, nothing
   * written) once its pivot has started, or when it is not running; SAGA_NOT_FOUND for an unknown id.
   */
  cancel(sagaId: string, action: OperatorAction): Promise<ActionTaken>;
  /** Retries the compensation of a Failed saga, once its cause is fixed. Refused likewise for a saga that is not Failed. */
  retry(sagaId: string, action: OperatorAction): Promise<ActionTaken>;
  close(): Promise<void>;
}

export async function sagaClient(sagas: readonly SagaDefinition[], options: RunOptions): Promise<SagaClient> {
  const config = options.config ?? loadConfig();
  startTracing('sagaline-client');
  const contracts = sagaContracts(options.schemas, sagas);
  const writer = await OutboxWriter.create(config.schemaRegistry, contracts, { topics: [...byName(sagas).values()].map((versions) => sagaTopic(versions)) });
  const pool = pgPool(config, SAGAS_DATABASE, 5);
  const row = (r: Record<string, unknown>): SagaRecord => ({
    sagaId: r.saga_id as string,
    saga: r.saga as string,
    version: r.version as number,
    status: r.status as InstanceStatus,
    tenantId: r.tenant_id as string,
    startedAt: r.started_at as Date,
    updatedAt: r.updated_at as Date,
    endedAt: (r.ended_at as Date | null) ?? null,
    state: r.state as InstanceState,
  });
  const page = async (filter: SagaListFilter = {}) => {
    const { rows, next } = await fetchSagaPage(pool, filter, sagas.map((s) => s.name));
    return { sagas: rows.map(row), next };
  };
  const recordOf = async (sagaId: string): Promise<SagaRecord | undefined> => {
    const { rows } = await pool.query('select * from saga_instances where saga_id = $1', [sagaId]).catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] }; // no monitor has run here yet
      throw err;
    });
    return rows[0] ? row(rows[0]) : undefined;
  };
  /**
   * An operator action: checked by folding it into the instance as the projection holds it (the
   * same rule every processor applies to it later), then written to the saga's log through the
   * engine's outbox. The fold has the last word: if the saga moved on meanwhile (the pivot started),
   * the action is in the log, ignored, and audit says why.
   */
  const act = async (sagaId: string, action: OperatorAction, type: string, verb: string): Promise<ActionTaken> => {
    for (const field of ['by', 'reason'] as const) {
      if (typeof action?.[field] !== 'string' || action[field].trim() === '' || action[field].length > 1000) throw new SagalineError('REQUEST_INVALID', `${field} is required (who acts, and why: both are recorded), as text of at most 1000 characters`);
    }
    const record = await recordOf(sagaId);
    if (!record) throw new SagalineError('SAGA_NOT_FOUND', `no saga ${sagaId} in the projection`);
    const declared = sagas.find((s) => s.name === record.saga && s.version === record.version);
    if (!declared) throw new SagalineError('SAGA_NOT_FOUND', `saga ${sagaId} is an instance of ${record.saga} v${record.version}, not of a saga this client was created with`);
    const definition = definitionOfInstance(declared, record.state.start.payload);
    const payload: OperatorActionPayload = { saga: record.saga, by: action.by, reason: action.reason };
    const trial = evolveInstance(definition, record.state, { sagaId, type, payload, at: new Date().toISOString() });
    if (trial.ignored !== undefined || !trial.state) throw new ActionRefusedError(`cannot ${verb} saga ${sagaId}: ${trial.ignored ?? 'it has no state'}`);
    const messageId = newId();
    const message = { type: type as never, payload: payload as never, metadata: { messageId, sagaId, tenantId: record.tenantId, correlationId: sagaId, causationId: sagaId, traceparent: newTraceparent() } };
    const topic = sagaTopic(sagas.filter((s) => s.name === record.saga)).name;
    writer.validate(message, topic);
    await inTransaction(pool, (tx) => writer.publish(tx, message, topic));
    return { sagaId, messageId, type, status: trial.state.status };
  };
  return {
    async start(saga, payload, start) {
      if (!sagas.includes(saga)) throw new ConfigError(`saga ${saga.name} v${saga.version} is not one this client was created with (${sagas.map((s) => `${s.name} v${s.version}`).join(', ')})`);
      // A saga whose steps come with the instance: the steps must make a saga before anything is written.
      if (saga.perInstance) saga.perInstance(payload);
      const sagaId = start.sagaId ?? newId();
      // An id chosen by the caller may be one another saga's instance already has (a new id cannot).
      if (start.sagaId !== undefined) {
        const held = await pool.query<{ saga: string }>('select saga from saga_instances where saga_id = $1', [sagaId]).catch((err: { code?: string }) => {
          if (err.code === '42P01') return { rows: [] }; // no monitor has run here yet
          throw err;
        });
        const heldBy = held.rows[0]?.saga;
        if (heldBy !== undefined && heldBy !== saga.name) throw new SagaIdTakenError(sagaId, saga.name, heldBy);
      }
      // The saga's trace starts here (tracing on), or continues the caller's `traceparent`.
      const span = startSpan(`start ${saga.name}`, { kind: SpanKind.PRODUCER, ...(start.traceparent ? { traceparent: start.traceparent } : {}), attributes: { 'sagaline.saga': saga.name, 'sagaline.saga_id': sagaId, 'sagaline.tenant_id': start.tenantId } });
      const message = {
        type: saga.startedBy as never,
        payload: payload as never,
        metadata: { messageId: newId(), sagaId, tenantId: start.tenantId, correlationId: sagaId, causationId: sagaId, traceparent: traceparentOf(span, start.traceparent ?? newTraceparent()) },
      };
      const topic = sagaTopic(sagas.filter((s) => s.name === saga.name)).name;
      writer.validate(message, topic);
      // The version first, in the same transaction: every runner folds the instance with it, to its end.
      const started: SagaStartedPayload = { saga: saga.name, version: saga.version };
      const marker = { type: SAGA_STARTED as never, payload: started as never, metadata: { ...message.metadata, messageId: newId() } };
      const write = async (tx: pg.ClientBase) => {
        await writer.publish(tx, marker, topic);
        await writer.publish(tx, message, topic);
      };
      try {
        if (start.tx) await write(start.tx);
        else await inTransaction(pool, write);
      } finally {
        span?.end();
      }
      return sagaId;
    },
    cancel: (sagaId, action) => act(sagaId, action, ENGINE_MESSAGES.cancelRequested, 'cancel'),
    retry: (sagaId, action) => act(sagaId, action, ENGINE_MESSAGES.compensationRetryRequested, 'retry the compensation of'),
    async get(sagaId) {
      const { rows } = await pool.query('select * from saga_instances where saga_id = $1', [sagaId]);
      return rows[0] ? row(rows[0]) : undefined;
    },
    list: async (filter = {}) => (await page(filter)).sagas,
    page,
    async close() {
      await pool.end();
    },
  };
}
