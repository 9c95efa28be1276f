/**
 * A batch of training sagas run through a fault, and what must hold once it is over: every saga
 * terminal, the business tables consistent with each outcome (no effect lost, none applied
 * twice), every committed outbox row in Kafka, one decision per step, and the projection rebuilt
 * from the log equal to the live one. Shared by the processor crash scenario and the stack fault
 * suite; each check returns its findings, one line each, so a test can count them or expect none.
 */
import { pgPool } from '../../core/clients.ts';
import { TimeoutError } from '../../core/errors.ts';
import { waitFor } from '../../core/wait.ts';
import { readLog } from '../../audit/log-reader.ts';
import { loadConnectorDefinitions } from '../../outbox-connector/connectors.ts';
import type { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { compareProjections, liveOffsets, rebuildProjection, type ProjectionDifference } from '../../processors/saga-state/rebuild.ts';
import type { SagaSummary } from '../../processors/saga-state/queries.ts';
import { TERMINAL, type SagaStatus } from '../../processors/saga/state.ts';
import type { Step } from '../../schemas/generated.ts';
import { config, uniqueName } from './fixtures.ts';
import { eventLogEnds, query, sagaSummaries, stopProcessors, trainNewModel } from './saga.ts';

/**
 * Step deadlines well beyond a restart's stall (a killed consumer's partitions move on after the
 * session timeout; a restarted broker or Connect takes seconds): the sagas must survive the fault,
 * not just time out and compensate.
 */
export const FAULT_DEADLINES_ENV: Record<string, string> = Object.fromEntries(
  ['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((s) => [`SAGALINE_DEADLINE_${s}_MS`, '90000']),
);

/** Saga i is made to fail at FAILURES[i % 10] (a business failure), or not at all. */
export const FAILURES: readonly (Step | undefined)[] = [undefined, undefined, undefined, 'ALLOCATE', undefined, 'UPDATE', undefined, 'AUDIT', undefined, 'TRAIN'];

export interface BatchSaga {
  sagaId: string;
  modelId: string;
  failAt: Step | undefined;
}

export interface Batch {
  tenant: string;
  sagas: BatchSaga[];
  ids: string[];
  /** Where every saga topic ended before the batch's first message: its messages all come after. */
  logStart: Map<string, bigint>;
}

/** Small jobs, so every saga of a batch fits in the compute pool at once (a full pool is a business failure, not a fault's effect). */
export const SMALL_JOB = { cpuCores: 0, memoryGb: 1, gpuCount: 0, storageGb: 1 };

/** Starts `size` sagas at once, one new model each, some made to fail at various steps (`failures`, by index); saga i trains for trainingMs(i). */
export async function startBatch(
  size: number,
  prefix: string,
  writer: OutboxWriter,
  trainingMs: (i: number) => number = () => 1_000,
  failures: readonly (Step | undefined)[] = FAILURES,
): Promise<Batch> {
  const tenant = uniqueName(prefix);
  const logStart = await eventLogEnds();
  const sagas: BatchSaga[] = [];
  for (let i = 0; i < size; i++) {
    const failAt = failures[i % failures.length];
    const started = await trainNewModel(tenant, { trainingDurationMs: trainingMs(i), config: { resources: SMALL_JOB }, ...(failAt ? { failAt } : {}) }, writer);
    sagas.push({ ...started, failAt });
  }
  return { tenant, sagas, ids: sagas.map((s) => s.sagaId), logStart };
}

/** One more saga on a batch's tenant, meant to complete: it probes whether the pipeline serves new work. */
export async function startProbeSaga(batch: Batch, writer: OutboxWriter): Promise<BatchSaga> {
  const probe = { ...(await trainNewModel(batch.tenant, { trainingDurationMs: 1_000, config: { resources: SMALL_JOB } }, writer)), failAt: undefined };
  batch.sagas.push(probe);
  batch.ids.push(probe.sagaId);
  return probe;
}

/** How many of the batch's sagas are not terminal yet (never projected counts as running). */
export async function runningCount(batch: Batch): Promise<number> {
  const now = await sagaSummaries(batch.ids);
  return batch.ids.filter((id) => !TERMINAL.includes(now.get(id)?.state as SagaStatus)).length;
}

export function countByState(outcomes: Map<string, SagaSummary>): Record<string, number> {
  const byState: Record<string, number> = {};
  for (const s of outcomes.values()) byState[s.state] = (byState[s.state] ?? 0) + 1;
  return byState;
}

/**
 * Outcomes that a fault must not change: a saga ends Completed or Compensated (Failed means a
 * compensation gave up); one made to fail compensates; and, as a saga stalled past a deadline
 * compensates too (consistent, but not what a user wants), most of the others complete, so a
 * check cannot pass by timing everything out.
 */
export function outcomeProblems(batch: Batch, outcomes: Map<string, SagaSummary>): string[] {
  const problems: string[] = [];
  let shouldComplete = 0;
  let completed = 0;
  for (const { sagaId, failAt } of batch.sagas) {
    const state = outcomes.get(sagaId)?.state;
    if (state === undefined || !TERMINAL.includes(state)) continue; // stuck: counted on its own
    if (state !== 'Completed' && state !== 'Compensated') problems.push(`${sagaId}: ended ${state} (${outcomes.get(sagaId)?.reason ?? 'no reason'})`);
    if (failAt && state !== 'Compensated') problems.push(`${sagaId}: made to fail at ${failAt}, ended ${state}`);
    if (!failAt) {
      shouldComplete += 1;
      if (state === 'Completed') completed += 1;
    }
  }
  if (completed < shouldComplete / 2) problems.push(`only ${completed} of ${shouldComplete} sagas not made to fail completed`);
  return problems;
}

export interface Findings {
  /** A committed effect that is gone: an outbox row never in Kafka, a step or compensation missing from the tables. */
  lost: string[];
  /** An effect applied more than once: a model updated twice, one step decided twice. */
  duplicated: string[];
}

/**
 * The business tables against each terminal saga's outcome. Completed: the model at v2 with one
 * version row, one `completed` audit entry. Otherwise: the model back at v1, and no audit entry
 * (or, if the audit answered after its deadline, its entry and the reversal). Either way nothing
 * is still held: no reservation, allocation, running job or reserved model.
 */
export async function checkEffects(batch: Batch, outcomes: Map<string, SagaSummary>): Promise<Findings> {
  const lost: string[] = [];
  const duplicated: string[] = [];
  const ids = batch.ids.filter((id) => TERMINAL.includes(outcomes.get(id)?.state as SagaStatus));
  const modelIds = batch.sagas.filter((s) => ids.includes(s.sagaId)).map((s) => s.modelId);
  const models = await query<{ model_id: string; version: string; reserved_by: string | null }>('model_service', 'select model_id, version, reserved_by from models where model_id = any($1)', [modelIds]);
  const versions = await query<{ model_id: string; n: number }>('model_service', 'select model_id, count(*)::int n from model_versions where model_id = any($1) group by 1', [modelIds]);
  const held = await query<{ saga_id: string }>('model_service', "select saga_id from reservations where saga_id = any($1) and status = 'held'", [ids]);
  const allocations = await query<{ saga_id: string }>('resource_service', "select saga_id from allocations where saga_id = any($1) and status = 'held'", [ids]);
  const jobs = await query<{ saga_id: string }>('training_service', "select saga_id from training_jobs where saga_id = any($1) and status = 'running'", [ids]);
  const audits = await query<{ saga_id: string; entry: string }>('audit_service', 'select saga_id, entry from audit_log where saga_id = any($1)', [ids]);
  for (const r of held) lost.push(`${r.saga_id}: reservation still held after the saga ended (its release was lost)`);
  for (const r of allocations) lost.push(`${r.saga_id}: allocation still held after the saga ended (its release was lost)`);
  for (const r of jobs) lost.push(`${r.saga_id}: training job still running after the saga ended (its cancellation was lost)`);
  for (const m of models.filter((m) => m.reserved_by !== null)) lost.push(`${m.reserved_by}: model ${m.model_id} still reserved after the saga ended`);
  for (const v of versions.filter((v) => v.n > 1)) duplicated.push(`model ${v.model_id}: ${v.n} new versions (updated more than once)`);
  for (const { sagaId, modelId } of batch.sagas.filter((s) => ids.includes(s.sagaId))) {
    const completed = outcomes.get(sagaId)!.state === 'Completed';
    const version = models.find((m) => m.model_id === modelId)?.version;
    if (version !== (completed ? 'v2' : 'v1')) lost.push(`${sagaId}: ${completed ? 'completed' : 'compensated'}, yet model ${modelId} is at ${version ?? 'nothing'}`);
    if (completed && !versions.some((v) => v.model_id === modelId)) lost.push(`${sagaId}: completed, yet model ${modelId} has no new version row`);
    const entries = audits.filter((a) => a.saga_id === sagaId).map((a) => a.entry).sort().join(',');
    const allowed = completed ? ['completed'] : ['', 'completed,reverted'];
    if (!allowed.includes(entries)) lost.push(`${sagaId}: ${completed ? 'completed' : 'compensated'} with audit entries [${entries}]`);
  }
  return { lost, duplicated };
}

/**
 * Every outbox row that the batch's sagas committed, in any service's database, must reach Kafka:
 * rows are re-read from the log until all are there or `timeoutMs` passes (Connect delivers a
 * little after the commit); the ones still missing are lost. And each step is decided once: two
 * distinct messages of one type (for one step) in one saga mean a decision was taken twice. The
 * same message delivered twice is at-least-once delivery, which the consumers absorb — not counted.
 */
export async function checkDelivery(batch: Batch, timeoutMs = 60_000): Promise<Findings> {
  const ids = new Set(batch.ids);
  const committed = new Map<string, string>(); // message id → "database: saga type"
  for (const { database } of loadConnectorDefinitions()) {
    const rows = await query<{ id: string; saga_id: string; type: string }>(database, 'select id::text, saga_id, type from outbox where saga_id = any($1)', [batch.ids]);
    for (const r of rows) committed.set(r.id, `${database}: ${r.saga_id} ${r.type}`);
  }
  let decisions = new Map<string, Set<string>>();
  const readOnce = async (): Promise<string[]> => {
    const seen = new Set<string>();
    decisions = new Map();
    await readLog(config, {
      startAt: batch.logStart,
      onMessage: (m) => {
        if (!ids.has(m.metadata.sagaId)) return;
        seen.add(m.metadata.messageId);
        const step = (m.payload as { step?: string }).step;
        const key = `${m.metadata.sagaId}: ${m.type}${step ? ` (${step})` : ''}`;
        decisions.set(key, (decisions.get(key) ?? new Set()).add(m.metadata.messageId));
      },
    });
    return [...committed.keys()].filter((id) => !seen.has(id));
  };
  let missing: string[] = [];
  try {
    await waitFor('every committed outbox row of the batch to be in Kafka', async () => (missing = await readOnce()).length === 0, { timeoutMs, intervalMs: 2_000 });
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err;
  }
  return {
    lost: missing.map((id) => `outbox row ${id} (${committed.get(id)}) committed but never in Kafka`),
    duplicated: [...decisions].filter(([, messages]) => messages.size > 1).map(([key, messages]) => `${key}: decided ${messages.size} times`),
  };
}

/**
 * Stops the processors (freezing the live projection), folds the log from offset zero up to where
 * the live projection stands into a fresh table, and returns every saga of `sagaIds` whose state differs.
 */
export async function replayDifferences(sagaIds: string[]): Promise<ProjectionDifference[]> {
  const pool = pgPool(config, 'sagaline', 2);
  try {
    const table = uniqueName('replay_check');
    await stopProcessors();
    await rebuildProjection(config, pool, table, { upTo: await liveOffsets(pool) });
    const differences = await compareProjections(pool, table, 'saga_state', sagaIds);
    await pool.query(`drop table ${table}`);
    return differences;
  } finally {
    await pool.end();
  }
}
