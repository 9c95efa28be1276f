/** The model registry of the example's model-service: its tables, and registering a model for a tenant. */
import type pg from 'pg';
import { SagalineError } from '../../index.ts';

export const MODEL_DATABASE = 'ml_models';

export const MODEL_DDL = [
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

/** v3 → v4; anything else gets a numeric suffix bumped or appended. */
export function nextVersion(version: string): string {
  const match = /^(.*?)(\d+)$/.exec(version);
  return match ? `${match[1]}${Number(match[2]) + 1}` : `${version}.1`;
}

export class ModelRegistrationError extends SagalineError {
  constructor(message: string) {
    super('MODEL_INVALID', message);
  }
}

/** Registers a model for a tenant (idempotent for the same tenant). */
export async function addModel(pool: pg.Pool, model: { tenantId: string; modelId: string; version: string }): Promise<'created' | 'unchanged'> {
  for (const [name, value] of Object.entries(model)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(value)) throw new ModelRegistrationError(`${name} must be 1–128 letters, digits or . _ : - (starting with a letter or digit), got "${value}"`);
  }
  const client = await pool.connect();
  try {
    for (const statement of MODEL_DDL) await client.query(statement);
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
  const { rows } = await pool.query('select tenant_id, version, reserved_by from models where model_id = $1', [modelId]).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] }; // no model was ever added
    throw err;
  });
  const r = rows[0];
  return r ? { tenantId: r.tenant_id, version: r.version, reservedBy: r.reserved_by } : undefined;
}
