/** model-service's shell: its tables, the facts its decisions need, and how its commands change the tables. */
import type pg from 'pg';
import { SagalineError } from '../../core/errors.ts';
import type { ParticipantDefinition } from '../runtime/participant.ts';
import { decide, type ModelCommand, type ModelFacts } from './decide.ts';

export const DATABASE = 'model_service';

export const DDL = [
  `create table if not exists models (
     model_id    text primary key,
     tenant_id   text not null,
     version     text not null,
     reserved_by text,
     updated_at  timestamptz not null default now())`,
  `create table if not exists model_versions (
     model_id      text not null references models,
     version       text not null,
     saga_id       text not null,
     artifacts_uri text not null,
     created_at    timestamptz not null default now(),
     primary key (model_id, version))`,
  `create table if not exists reservations (
     reservation_id uuid primary key,
     saga_id        text not null unique,
     model_id       text not null references models,
     status         text not null check (status in ('held', 'released')),
     created_at     timestamptz not null default now(),
     released_at    timestamptz)`,
];

async function one(client: pg.ClientBase, sql: string, params: unknown[], what: string): Promise<void> {
  const res = await client.query(sql, params);
  if (res.rowCount !== 1) throw new SagalineError('INVARIANT', `${what}: expected one row, changed ${res.rowCount}`);
}

export const modelService: ParticipantDefinition<ModelFacts, ModelCommand> = {
  name: 'model-service',
  database: DATABASE,
  ddl: DDL,
  async loadFacts(client, state) {
    if (!state.modelId) return { model: null };
    const { rows } = await client.query('select model_id, tenant_id, version, reserved_by from models where model_id = $1 for update', [state.modelId]);
    const r = rows[0];
    return { model: r ? { modelId: r.model_id, tenantId: r.tenant_id, version: r.version, reservedBy: r.reserved_by } : null };
  },
  decide,
  async apply(client, c) {
    switch (c.kind) {
      case 'reserve':
        await one(client, 'update models set reserved_by = $2, updated_at = now() where model_id = $1 and reserved_by is null', [c.modelId, c.sagaId], `reserve ${c.modelId}`);
        await client.query("insert into reservations (reservation_id, saga_id, model_id, status) values ($1, $2, $3, 'held')", [c.reservationId, c.sagaId, c.modelId]);
        return;
      case 'release':
        await client.query('update models set reserved_by = null, updated_at = now() where model_id = $1 and reserved_by = $2', [c.modelId, c.sagaId]);
        await client.query("update reservations set status = 'released', released_at = now() where saga_id = $1 and status = 'held'", [c.sagaId]);
        return;
      case 'update':
        await one(client, 'update models set version = $3, updated_at = now() where model_id = $1 and version = $2', [c.modelId, c.fromVersion, c.toVersion], `update ${c.modelId}`);
        await client.query('insert into model_versions (model_id, version, saga_id, artifacts_uri) values ($1, $2, $3, $4)', [c.modelId, c.toVersion, c.sagaId, c.artifactsUri]);
        return;
      case 'revert':
        await client.query('update models set version = $2, updated_at = now() where model_id = $1', [c.modelId, c.toVersion]);
        return;
      default: {
        const unreachable: never = c;
        throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
      }
    }
  },
};

export class ModelRegistrationError extends SagalineError {
  constructor(message: string) {
    super('MODEL_INVALID', message);
  }
}

/** `sagaline model add`: registers a model for a tenant (idempotent for the same tenant). */
export async function addModel(pool: pg.Pool, model: { tenantId: string; modelId: string; version: string }): Promise<'created' | 'unchanged'> {
  for (const [name, value] of Object.entries(model)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(value)) throw new ModelRegistrationError(`${name} must be 1–128 letters, digits or . _ : - (starting with a letter or digit), got "${value}"`);
  }
  const client = await pool.connect();
  try {
    for (const statement of DDL) await client.query(statement);
    const inserted = await client.query('insert into models (model_id, tenant_id, version) values ($1, $2, $3) on conflict do nothing', [model.modelId, model.tenantId, model.version]);
    if (inserted.rowCount === 1) return 'created';
    const { rows } = await client.query('select tenant_id from models where model_id = $1', [model.modelId]);
    if (rows[0].tenant_id !== model.tenantId) throw new ModelRegistrationError(`model ${model.modelId} already belongs to another tenant`);
    return 'unchanged';
  } finally {
    client.release();
  }
}

export async function findModel(pool: pg.Pool, modelId: string): Promise<{ tenantId: string; version: string; reservedBy: string | null } | undefined> {
  const { rows } = await pool.query("select tenant_id, version, reserved_by from models where model_id = $1", [modelId]).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] }; // no model was ever added
    throw err;
  });
  const r = rows[0];
  return r ? { tenantId: r.tenant_id, version: r.version, reservedBy: r.reserved_by } : undefined;
}
