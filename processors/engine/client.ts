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
import { sagaContracts, type SagaStartedPayload } from '../../schemas/saga-contracts.ts';
import { inTransaction } from '../../core/transaction.ts';
import { SAGA_STARTED } from './versions.ts';
import { byName, sagaTopic } from '../../topics/derived.ts';
import type { SagaDefinition } from '../saga/define-saga.ts';
import type { InstanceState, InstanceStatus } from '../saga/instance.ts';
import { SAGAS_DATABASE } from './monitor.ts';
import type { RunOptions } from './run-participant.ts';

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
  /** Instances of this client's sagas, newest first. */
  list(filter?: { saga?: string; status?: InstanceStatus; tenantId?: string; limit?: number }): Promise<SagaRecord[]>;
  close(): Promise<void>;
}

export async function sagaClient(sagas: readonly SagaDefinition[], options: RunOptions): Promise<SagaClient> {
  const config = options.config ?? loadConfig();
  const contracts = sagaContracts(options.schemas, sagas);
  const writer = await OutboxWriter.create(config.schemaRegistryUrl, contracts, { topics: [...byName(sagas).values()].map((versions) => sagaTopic(versions)) });
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
      const message = {
        type: saga.startedBy as never,
        payload: payload as never,
        metadata: { messageId: newId(), sagaId, tenantId: start.tenantId, correlationId: sagaId, causationId: sagaId, traceparent: start.traceparent ?? newTraceparent() },
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
      if (start.tx) await write(start.tx);
      else await inTransaction(pool, write);
      return sagaId;
    },
    async get(sagaId) {
      const { rows } = await pool.query('select * from saga_instances where saga_id = $1', [sagaId]);
      return rows[0] ? row(rows[0]) : undefined;
    },
    async list(filter = {}) {
      const { rows } = await pool.query(
        `select * from saga_instances where ($1::text is null or saga = $1) and ($2::text is null or status = $2) and ($3::text is null or tenant_id = $3)
            and saga = any($5) order by started_at desc limit $4`,
        [filter.saga ?? null, filter.status ?? null, filter.tenantId ?? null, filter.limit ?? 100, [...new Set(sagas.map((s) => s.name))]],
      );
      return rows.map(row);
    },
    async close() {
      await pool.end();
    },
  };
}
