/**
 * End-to-end sagas: the training example's four services and its saga monitor running as real
 * processes (`processors up --config`), training sagas started through the public API
 * (`requestTraining` → `client.start`), timed from the start to the end the monitor's projection
 * records (the instance's startedAt and endedAt: broker times of its first and last message).
 * Each saga trains a model of its own, registered before the clock starts, so the load generator
 * does one transaction per saga (the start) on connections it keeps.
 */
import type pg from 'pg';
import { readLog } from '../../audit/log-reader.ts';
import { historySources } from '../../audit/sources.ts';
import { pgPool } from '../../core/clients.ts';
import { addModel, MODEL_DATABASE } from '../../examples/ml-training/models.ts';
import { requestTraining } from '../../examples/ml-training/request.ts';
import type { InstanceState } from '../../processors/saga/instance.ts';
import { config, uniqueName } from '../../test/support/fixtures.ts';
import { testProject, trainingSagaClient, waitForTerminal } from '../../test/support/saga.ts';
import { now } from '../load.ts';
import { ratePerSecond, summarizeLatencies, type LatencySummary } from '../stats.ts';

export interface SagaSettings {
  /** Sagas requested flat out for the throughput figure. */
  saturationSagas: number;
  /** Offered rates (sagas/s), each held for `rateSeconds`. */
  rates: number[];
  rateSeconds: number;
  /**
   * Sagas at the highest offered rate for this long right after the processes start, before the
   * measured runs: a process's first seconds (cold JIT, new database connections) are reported on
   * their own, not mixed into the steady-state figures.
   */
  warmupSeconds: number;
  /** Concurrent requesters at saturation. */
  requesters: number;
  drainTimeoutMs: number;
}

export interface SagaRun {
  offeredPerSec: number | null;
  /** Processes per service (and for the monitor) sharing each consumer group. */
  instances: number;
  sagas: number;
  byState: Record<string, number>;
  /** Completed sagas per second, from the first request to the last saga's end. */
  completedPerSec: number;
  /** Request → final event of each completed saga. */
  latency: LatencySummary;
}

export interface SagaResult {
  scenario: 'sagas';
  /** Messages in the log of one completed saga: converts sagas/s into messages/s. */
  messagesPerSaga: number;
  saturation: SagaRun;
  /** The first seconds after the processes started (SagaSettings.warmupSeconds), reported apart. */
  warmup: SagaRun | null;
  rates: SagaRun[];
  /** Saturation again with more instances of every process (measureScaleOut). */
  scaleOut: SagaRun[];
}

/** Small jobs and a short simulated training, so the pipeline, not the simulated work, is measured. */
const REQUEST = { trainingDurationMs: 10, resources: { cpuCores: 0, memoryGb: 0, gpuCount: 0, storageGb: 0 } };

async function run(count: number, ratePerSec: number | null, requesters: number, timeoutMs: number, instances: number): Promise<SagaRun & { completedIds: string[] }> {
  const tenant = uniqueName('bench');
  const project = await testProject();
  const client = await trainingSagaClient();
  const pool = pgPool(config, MODEL_DATABASE, Math.min(requesters, 8));
  try {
    const models = await registerModels(pool, tenant, count);
    const ids: string[] = [];
    let next = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: ratePerSec ? Math.max(requesters, Math.ceil(ratePerSec / 10)) : requesters }, async () => {
        for (;;) {
          const k = next++;
          if (k >= count) return;
          if (ratePerSec) {
            const wait = t0 + (k / ratePerSec) * 1000 - now();
            if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          }
          ids.push(await requestTraining(client, project.sagas[0]!, pool, { tenantId: tenant, modelId: models[k]!, ...REQUEST }));
        }
      }),
    );
    const finals = [...(await waitForTerminal(ids, timeoutMs)).values()].map((r) => r.state);
    return { ...summarizeSagas(finals, ratePerSec, instances), completedIds: finals.filter((f) => f.status === 'Completed').map((f) => f.sagaId) };
  } finally {
    await pool.end();
  }
}

async function registerModels(pool: pg.Pool, tenant: string, count: number): Promise<string[]> {
  const models = Array.from({ length: count }, () => uniqueName('model'));
  for (const modelId of models) await addModel(pool, { tenantId: tenant, modelId, version: 'v1' });
  return models;
}

export function summarizeSagas(finals: InstanceState[], offeredPerSec: number | null, instances = 1): SagaRun {
  const byState: Record<string, number> = {};
  for (const s of finals) byState[s.status] = (byState[s.status] ?? 0) + 1;
  const completed = finals.filter((s) => s.status === 'Completed' && s.startedAt && s.endedAt);
  const starts = finals.flatMap((s) => (s.startedAt ? [Date.parse(s.startedAt)] : []));
  const ends = completed.map((s) => Date.parse(s.endedAt!));
  const span = ends.length && starts.length ? Math.max(...ends) - Math.min(...starts) : 0;
  return {
    offeredPerSec,
    instances,
    sagas: finals.length,
    byState,
    completedPerSec: ratePerSecond(completed.length, span),
    latency: summarizeLatencies(completed.map((s) => Date.parse(s.endedAt!) - Date.parse(s.startedAt))),
  };
}

export async function measureSagas(s: SagaSettings, log: (line: string) => void = () => undefined): Promise<SagaResult> {
  let warmup: SagaRun | null = null;
  const top = Math.max(...s.rates);
  if (s.warmupSeconds > 0 && s.rates.length > 0) {
    const { completedIds: _, ...w } = await run(Math.max(1, Math.round(top * s.warmupSeconds)), top, s.requesters, s.drainTimeoutMs, 1);
    log(`sagas: warm-up, ${top}/s for ${s.warmupSeconds} s after the processes started → ${JSON.stringify(w.byState)}, latency p50 ${w.latency.p50Ms} ms, p99 ${w.latency.p99Ms} ms`);
    warmup = w;
  }
  const rates: SagaRun[] = [];
  for (const rate of s.rates) {
    const r = await run(Math.max(1, Math.round(rate * s.rateSeconds)), rate, s.requesters, s.drainTimeoutMs, 1);
    log(`sagas: offered ${rate}/s → ${JSON.stringify(r.byState)}, latency p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms`);
    const { completedIds: _, ...summary } = r;
    rates.push(summary);
  }
  const { completedIds, ...saturation } = await run(s.saturationSagas, null, s.requesters, s.drainTimeoutMs, 1);
  log(`sagas: saturation ${saturation.completedPerSec} completed/s ${JSON.stringify(saturation.byState)}`);
  // Every message of one completed saga, read back from Kafka: converts sagas/s into messages/s.
  const sample = completedIds[0];
  const sources = historySources(await testProject());
  const messagesPerSaga = sample ? (await readLog(config, { topics: [...sources.sagas.keys()], catalogue: sources.catalogue, sagaId: sample, onMessage: () => undefined, timeoutMs: 60_000 })).messages : 0;
  return { scenario: 'sagas', messagesPerSaga, saturation, warmup, rates, scaleOut: [] };
}

/** Saturation with `instances` processes per service and for the monitor (already running). */
export async function measureScaleOut(s: SagaSettings, instances: number, log: (line: string) => void = () => undefined): Promise<SagaRun> {
  const { completedIds: _, ...saturation } = await run(s.saturationSagas, null, s.requesters, s.drainTimeoutMs, instances);
  log(`sagas: saturation with ${instances} instances of each process ${saturation.completedPerSec} completed/s ${JSON.stringify(saturation.byState)}`);
  return saturation;
}
