/**
 * A batch of the training example's sagas run through a fault, and what must hold once it is over:
 * every saga terminal, the example's business tables consistent with each outcome (no effect lost,
 * none applied twice), every committed outbox row in Kafka, one decision per step, and the saga
 * monitor's projection equal to the log folded anew. Shared by the processor crash scenario and the
 * stack fault suite; each check returns its findings, one line each, so a test can count them or
 * expect none. The example must be provisioned and its processes started (startProcessors).
 */
import { isDeepStrictEqual } from 'node:util';
import type { KafkaMessage } from 'kafkajs';
import { pgPool, registryClient } from '../../core/clients.ts';
import { TimeoutError } from '../../core/errors.ts';
import { waitFor } from '../../core/wait.ts';
import { outboxSources } from '../../infra/provision-sagas.ts';
import { SAGAS_DATABASE } from '../../processors/engine/monitor.ts';
import type { Project } from '../../processors/engine/project.ts';
import { instanceMessage } from '../../processors/engine/tables.ts';
import { evolveVersioned, SAGA_STARTED, versionsOf } from '../../processors/engine/versions.ts';
import { decodeMessage } from '../../processors/runtime/decode.ts';
import type { InstanceState, InstanceStatus } from '../../processors/saga/instance.ts';
import { ENGINE_MESSAGE_TYPES } from '../../schemas/saga-contracts.ts';
import { fromUnionValue } from '../../schemas/contracts.ts';
import { byName, sagaTopic, sagaTopicMessages } from '../../topics/derived.ts';
import { MODEL_DATABASE } from '../../examples/ml-training/models.ts';
import { AUDIT_DATABASE, RESOURCE_DATABASE, TRAINING_DATABASE } from '../../examples/ml-training/participants.ts';
import { STEPS, type TrainingStep } from '../../examples/ml-training/settings.ts';
import { readRange } from './consume.ts';
import { config, uniqueName } from './fixtures.ts';
import { eventLogEnds, query, sagaRecords, stopProcessors, TERMINAL, testProject, trainNewModel } from './saga.ts';

/** Where each saga stands in the monitor's projection (sagaRecords / waitForTerminal). */
export type Outcomes = Map<string, { status: InstanceStatus; state: InstanceState }>;

/**
 * Step deadlines well beyond a restart's stall (a killed consumer's partitions move on after the
 * session timeout; a restarted broker or Connect takes seconds): the sagas must survive the fault,
 * not just time out and compensate. The example reads them from its processes' environment.
 */
export const FAULT_DEADLINES_ENV: Record<string, string> = Object.fromEntries(STEPS.map((s) => [`TRAINING_DEADLINE_${s}_MS`, '90000']));

/** Saga i is made to fail at FAILURES[i % 10] (a business failure), or not at all. */
export const FAILURES: readonly (TrainingStep | undefined)[] = [undefined, undefined, undefined, 'ALLOCATE', undefined, 'UPDATE', undefined, 'AUDIT', undefined, 'TRAIN'];

export interface BatchSaga {
  sagaId: string;
  modelId: string;
  failAt: TrainingStep | undefined;
}

export interface Batch {
  tenant: string;
  sagas: BatchSaga[];
  ids: string[];
  /** Where every saga topic of the example ended before the batch's first message ("topic/partition" → offset): its messages all come after. */
  logStart: Map<string, bigint>;
}

/** Small jobs, so every saga of a batch fits in the compute pool at once (a full pool is a business failure, not a fault's effect). */
export const SMALL_JOB = { cpuCores: 0, memoryGb: 1, gpuCount: 0, storageGb: 1 };

/** Starts `size` training sagas at once, one new model each, some made to fail at various steps (`failures`, by index); saga i trains for trainingMs(i). */
export async function startBatch(
  size: number,
  prefix: string,
  trainingMs: (i: number) => number = () => 1_000,
  failures: readonly (TrainingStep | undefined)[] = FAILURES,
): Promise<Batch> {
  const tenant = uniqueName(prefix);
  const logStart = await eventLogEnds(await testProject());
  // Started 8 at a time, so the whole batch is under way within a second or two, not one by one
  const sagas: BatchSaga[] = new Array(size);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, size) }, async () => {
      for (let i = next++; i < size; i = next++) {
        const failAt = failures[i % failures.length];
        const started = await trainNewModel(tenant, { trainingDurationMs: trainingMs(i), resources: SMALL_JOB, ...(failAt ? { failAt } : {}) });
        sagas[i] = { ...started, failAt };
      }
    }),
  );
  return { tenant, sagas, ids: sagas.map((s) => s.sagaId), logStart };
}

/** One more saga on a batch's tenant, meant to complete: it probes whether the pipeline serves new work. */
export async function startProbeSaga(batch: Batch): Promise<BatchSaga> {
  const probe = { ...(await trainNewModel(batch.tenant, { trainingDurationMs: 1_000, resources: SMALL_JOB })), failAt: undefined };
  batch.sagas.push(probe);
  batch.ids.push(probe.sagaId);
  return probe;
}

/** How many of the batch's sagas are not terminal yet (never projected counts as running). */
export async function runningCount(batch: Batch): Promise<number> {
  const now = await sagaRecords(batch.ids);
  return batch.ids.filter((id) => !TERMINAL.includes(now.get(id)?.status as InstanceStatus)).length;
}

/** How many of the sagas `ids` (of any saga) have ended. */
export async function terminalCount(ids: readonly string[]): Promise<number> {
  const now = await sagaRecords([...ids]);
  return ids.filter((id) => TERMINAL.includes(now.get(id)?.status as InstanceStatus)).length;
}

export function countByState(outcomes: Outcomes): Record<string, number> {
  const byState: Record<string, number> = {};
  for (const s of outcomes.values()) byState[s.status] = (byState[s.status] ?? 0) + 1;
  return byState;
}

/**
 * Outcomes that a fault must not change: a saga ends Completed or Compensated (Failed means a
 * compensation gave up); one made to fail compensates; and, as a saga stalled past a deadline
 * compensates too (consistent, but not what a user wants), most of the others complete, so a
 * check cannot pass by timing everything out.
 */
export function outcomeProblems(batch: Batch, outcomes: Outcomes): string[] {
  const problems: string[] = [];
  let shouldComplete = 0;
  let completed = 0;
  for (const { sagaId, failAt } of batch.sagas) {
    const status = outcomes.get(sagaId)?.status;
    if (status === undefined || !TERMINAL.includes(status)) continue; // stuck: counted on its own
    if (status !== 'Completed' && status !== 'Compensated') problems.push(`${sagaId}: ended ${status} (${outcomes.get(sagaId)?.state.reason ?? 'no reason'})`);
    if (failAt && status !== 'Compensated') problems.push(`${sagaId}: made to fail at ${failAt}, ended ${status}`);
    if (!failAt) {
      shouldComplete += 1;
      if (status === 'Completed') completed += 1;
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
 * The example's business tables against each terminal saga's outcome. Completed: the model at v2
 * with one version row, one `completed` audit entry. Otherwise: the model back at v1, and no audit
 * entry (or, if the audit answered after its deadline, its entry and the reversal). Either way
 * nothing is still held: no reservation, allocation, running job or reserved model.
 */
export async function checkEffects(batch: Batch, outcomes: Outcomes): Promise<Findings> {
  const lost: string[] = [];
  const duplicated: string[] = [];
  const ids = batch.ids.filter((id) => TERMINAL.includes(outcomes.get(id)?.status as InstanceStatus));
  const modelIds = batch.sagas.filter((s) => ids.includes(s.sagaId)).map((s) => s.modelId);
  const models = await query<{ model_id: string; version: string; reserved_by: string | null }>(MODEL_DATABASE, 'select model_id, version, reserved_by from models where model_id = any($1)', [modelIds]);
  const versions = await query<{ model_id: string; n: number }>(MODEL_DATABASE, 'select model_id, count(*)::int n from model_versions where model_id = any($1) group by 1', [modelIds]);
  const held = await query<{ saga_id: string }>(MODEL_DATABASE, "select saga_id from reservations where saga_id = any($1) and status = 'held'", [ids]);
  const allocations = await query<{ saga_id: string }>(RESOURCE_DATABASE, "select saga_id from allocations where saga_id = any($1) and status = 'held'", [ids]);
  const jobs = await query<{ saga_id: string }>(TRAINING_DATABASE, "select saga_id from training_jobs where saga_id = any($1) and status = 'running'", [ids]);
  const audits = await query<{ saga_id: string; entry: string }>(AUDIT_DATABASE, 'select saga_id, entry from audit_log where saga_id = any($1)', [ids]);
  for (const r of held) lost.push(`${r.saga_id}: reservation still held after the saga ended (its release was lost)`);
  for (const r of allocations) lost.push(`${r.saga_id}: allocation still held after the saga ended (its release was lost)`);
  for (const r of jobs) lost.push(`${r.saga_id}: training job still running after the saga ended (its cancellation was lost)`);
  for (const m of models.filter((m) => m.reserved_by !== null)) lost.push(`${m.reserved_by}: model ${m.model_id} still reserved after the saga ended`);
  for (const v of versions.filter((v) => v.n > 1)) duplicated.push(`model ${v.model_id}: ${v.n} new versions (updated more than once)`);
  for (const { sagaId, modelId } of batch.sagas.filter((s) => ids.includes(s.sagaId))) {
    const completed = outcomes.get(sagaId)!.status === 'Completed';
    const version = models.find((m) => m.model_id === modelId)?.version;
    if (version !== (completed ? 'v2' : 'v1')) lost.push(`${sagaId}: ${completed ? 'completed' : 'compensated'}, yet model ${modelId} is at ${version ?? 'nothing'}`);
    if (completed && !versions.some((v) => v.model_id === modelId)) lost.push(`${sagaId}: completed, yet model ${modelId} has no new version row`);
    const entries = audits.filter((a) => a.saga_id === sagaId).map((a) => a.entry).sort().join(',');
    const allowed = completed ? ['completed'] : ['', 'completed,reverted'];
    if (!allowed.includes(entries)) lost.push(`${sagaId}: ${completed ? 'completed' : 'compensated'} with audit entries [${entries}]`);
  }
  return { lost, duplicated };
}

const topicsOf = (project: Project): string[] => [...byName(project.sagas).values()].map((versions) => sagaTopic(versions).name);

/**
 * Every outbox row that the batch's sagas committed, in any of the example's source databases
 * (the engine's, for starts and timeouts, and each participant's), must reach Kafka: the saga
 * topics are re-read from the batch's start until all are there or `timeoutMs` passes (delivery
 * comes a little after the commit); the ones still missing are lost. And each step is decided
 * once: two distinct messages of one type (for one step) in one saga mean a decision was taken
 * twice. The same message delivered twice is at-least-once delivery, which the consumers absorb —
 * not counted.
 */
export async function checkDelivery(batch: Batch, timeoutMs = 60_000): Promise<Findings> {
  const project = await testProject();
  const ids = new Set(batch.ids);
  const committed = new Map<string, string>(); // message id → "database: saga type"
  for (const { database } of outboxSources(project)) {
    const rows = await query<{ id: string; saga_id: string; type: string }>(database, 'select id::text, saga_id, type from outbox where saga_id = any($1)', [batch.ids]);
    for (const r of rows) committed.set(r.id, `${database}: ${r.saga_id} ${r.type}`);
  }
  const registry = registryClient(config);
  const engineTypes: readonly string[] = ENGINE_MESSAGE_TYPES;
  let decisions = new Map<string, Set<string>>();
  const readOnce = async (): Promise<string[]> => {
    const seen = new Set<string>();
    decisions = new Map();
    for (const r of await readRange(topicsOf(project), batch.logStart)) {
      const sagaId = r.headers.sagaId ?? r.key ?? '';
      if (!ids.has(sagaId) || !r.headers.id) continue;
      seen.add(r.headers.id);
      const type = r.headers.eventType ?? '?';
      // The engine's messages about a step say which step in their payload.
      const engine = engineTypes.includes(type) && r.value ? (fromUnionValue(await registry.decode(r.value), type) as { step?: string; attempt?: number; compensation?: boolean } | undefined) : undefined;
      // A failed attempt is one per step, attempt and direction; the other engine messages one per step.
      const which = engine?.attempt !== undefined ? `${engine.step} ${engine.compensation ? 'undo' : 'do'} attempt ${engine.attempt}` : engine?.step;
      const key = `${sagaId}: ${type}${which ? ` (${which})` : ''}`;
      decisions.set(key, (decisions.get(key) ?? new Set()).add(r.headers.id));
    }
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

export interface ProjectionDifference {
  sagaId: string;
  live: InstanceState | undefined;
  replayed: InstanceState | undefined;
}

/**
 * Stops the example's processes (freezing the monitor's projection), folds each saga topic from
 * offset zero up to where the projection stands (saga_projection_offsets) the way the monitor does
 * — each message once, through the version the instance runs under — and returns every saga of
 * `sagaIds` whose replayed state differs from the live one.
 */
export async function replayDifferences(sagaIds: string[]): Promise<ProjectionDifference[]> {
  const project = await testProject();
  await stopProcessors();
  const wanted = new Set(sagaIds);
  const topics = topicsOf(project);
  const pool = pgPool(config, SAGAS_DATABASE, 2);
  try {
    const upTo = new Map(
      (await pool.query<{ topic: string; partition: number; next_offset: string }>('select topic, partition, next_offset::text from saga_projection_offsets where topic = any($1)', [topics])).rows.map((r) => [
        `${r.topic}/${r.partition}`,
        BigInt(r.next_offset),
      ]),
    );
    const catalogue = sagaTopicMessages(project.sagas);
    const registry = registryClient(config);
    const versionsByTopic = new Map([...byName(project.sagas).values()].map((versions) => [sagaTopic(versions).name, versionsOf(versions, (d) => d)]));
    const replayed = new Map<string, { state: InstanceState | undefined; recorded: number | undefined; seen: Set<string> }>();
    for (const r of await readRange(topics, new Map(), upTo)) {
      const sagaId = r.headers.sagaId ?? r.key ?? '';
      if (!wanted.has(sagaId)) continue;
      const message = await decodeMessage(registry, r.topic, r.partition, { key: r.key === null ? null : Buffer.from(r.key), value: r.value, headers: r.headers, offset: r.offset, timestamp: String(r.timestamp), attributes: 0 } as KafkaMessage, catalogue);
      const fold = replayed.get(sagaId) ?? { state: undefined, recorded: undefined, seen: new Set<string>() };
      replayed.set(sagaId, fold);
      if (fold.seen.has(message.metadata.messageId)) continue; // the monitor's inbox
      fold.seen.add(message.metadata.messageId);
      const { evolution, version } = evolveVersioned(versionsByTopic.get(r.topic)!, fold.state, fold.recorded, instanceMessage(message));
      if (message.type === SAGA_STARTED && version !== undefined && fold.recorded === undefined && !fold.state) {
        fold.recorded = version;
        continue;
      }
      if (evolution.state) fold.state = evolution.state;
    }
    const live = new Map((await pool.query<{ saga_id: string; state: InstanceState }>('select saga_id, state from saga_instances where saga_id = any($1)', [sagaIds])).rows.map((r) => [r.saga_id, r.state]));
    return sagaIds
      .map((sagaId) => {
        const state = replayed.get(sagaId)?.state;
        return { sagaId, live: live.get(sagaId), replayed: state === undefined ? undefined : (JSON.parse(JSON.stringify(state)) as InstanceState) };
      })
      .filter((d) => !isDeepStrictEqual(d.live, d.replayed));
  } finally {
    await pool.end();
  }
}
