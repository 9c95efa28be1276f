/**
 * The design's example of a short operation that needs atomicity across services: a model's
 * version changes in model-service and the change is recorded in audit-service, both or neither.
 *
 * Each participant checks its business rules, writes its part and writes the message describing
 * it to its own outbox — all inside the transaction that is then prepared, so the message is
 * published if and only if the transaction commits.
 */
import { randomUUID } from 'node:crypto';
import { newTraceparent, type ActionRegistry, type MessageMetadata, type ParticipantAction, type TransactionParticipant } from '../../index.ts';
import { MODEL_DATABASE, MODEL_DDL } from './models.ts';
import { AUDIT_DATABASE } from './participants.ts';

/** The stream the actions' messages go to (`streams` in the config module): `sagaline.model-versions`. */
export const MODEL_VERSIONS_STREAM = 'model-versions';

export const UPDATE_MODEL = 'update_model';
export const SET_VERSION_ACTION = 'update_model.set_version';
export const AUDIT_ACTION = 'update_model.audit';

export interface UpdateModelParams {
  tenantId: string;
  modelId: string;
  version: string;
}

function str(params: Record<string, unknown>, key: string): string {
  const v = params[key];
  if (typeof v !== 'string' || v === '') throw new Error(`params.${key} must be a non-empty string`);
  return v;
}

function metadata(txId: string, tenantId: string): MessageMetadata {
  return { messageId: randomUUID(), sagaId: txId, tenantId, correlationId: txId, causationId: txId, traceparent: newTraceparent() };
}

export const AUDIT_DDL = [
  `create table if not exists model_version_audit (
     audit_id       uuid primary key,
     transaction_id text not null unique,
     tenant_id      text not null,
     model_id       text not null,
     version        text not null,
     logged_at      timestamptz not null default now())`,
];

/** model-service: the model exists, belongs to the tenant, is not reserved for training and is not at that version yet. */
export const setVersionAction: ParticipantAction = {
  ddl: MODEL_DDL,
  writes: ['ModelVersionChanged'],
  async run(client, { txId, params, writer }) {
    const tenantId = str(params, 'tenantId');
    const modelId = str(params, 'modelId');
    const version = str(params, 'version');
    const { rows } = await client.query('select tenant_id, version, reserved_by from models where model_id = $1 for update', [modelId]);
    const model = rows[0];
    if (!model) return { vote: 'no', reason: `model ${modelId} does not exist` };
    if (model.tenant_id !== tenantId) return { vote: 'no', reason: `model ${modelId} belongs to another tenant` };
    if (model.reserved_by) return { vote: 'no', reason: `model ${modelId} is reserved for training by saga ${model.reserved_by}` };
    if (model.version === version) return { vote: 'no', reason: `model ${modelId} is already at version ${version}` };
    await client.query('update models set version = $2, updated_at = now() where model_id = $1', [modelId, version]);
    await writer.publish(client, {
      type: 'ModelVersionChanged',
      payload: { transactionId: txId, tenantId, modelId, previousVersion: model.version, newVersion: version },
      metadata: metadata(txId, tenantId),
    });
    return { vote: 'yes' };
  },
};

/** audit-service: one audit entry per transaction. */
export const auditAction: ParticipantAction = {
  ddl: AUDIT_DDL,
  writes: ['ModelVersionAudited'],
  async run(client, { txId, params, writer }) {
    const tenantId = str(params, 'tenantId');
    const modelId = str(params, 'modelId');
    const version = str(params, 'version');
    const auditId = randomUUID();
    const res = await client.query(
      'insert into model_version_audit (audit_id, transaction_id, tenant_id, model_id, version) values ($1, $2, $3, $4, $5) on conflict (transaction_id) do nothing',
      [auditId, txId, tenantId, modelId, version],
    );
    if (res.rowCount !== 1) return { vote: 'no', reason: `transaction ${txId} is already audited` };
    await writer.publish(client, {
      type: 'ModelVersionAudited',
      payload: { transactionId: txId, auditId, tenantId, modelId, newVersion: version },
      metadata: metadata(txId, tenantId),
    });
    return { vote: 'yes' };
  },
};

/** The actions of update_model, to give the coordinator. */
export const UPDATE_MODEL_ACTIONS: ActionRegistry = {
  [SET_VERSION_ACTION]: setVersionAction,
  [AUDIT_ACTION]: auditAction,
};

/** The two participants of update_model. */
export function updateModelParticipants(params: UpdateModelParams): TransactionParticipant[] {
  const p = { tenantId: params.tenantId, modelId: params.modelId, version: params.version };
  return [
    { name: 'model-service', database: MODEL_DATABASE, action: SET_VERSION_ACTION, params: p },
    { name: 'audit-service', database: AUDIT_DATABASE, action: AUDIT_ACTION, params: p },
  ];
}
