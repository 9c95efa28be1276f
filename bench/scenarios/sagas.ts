/**
 * End-to-end sagas: the training example's four services and its saga monitor running as real
 * processes (`processors up --config`), training sagas started through the public API
 * (`requestTraining` → `client.start`), timed from the start to the end the monitor's projection
 * records (the instance's startedAt and endedAt: broker times of its first and last message).
 */
import { readLog } from '../../audit/log-reader.ts';
import { historySources } from '../../audit/sources.ts';
import type { InstanceState } from '../../processors/saga/instance.ts';
import { config, uniqueName } from '../../test/support/fixtures.ts';
import { testProject, trainNewModel, waitForTerminal } from '../../test/support/saga.ts';
import { now } from '../load.ts';
import { ratePerSecond, summarizeLatencies, type LatencySummary } from '../stats.ts';

export interface SagaSettings {
  /** Sagas requested flat out for the throughput figure. */
  saturationSagas: number;
  /** Offered rates (sagas/s), each held for `rateSeconds`. */
  rates: number[];
  rateSeconds: number;
  /** Concurrent requesters at saturation. */
  requesters: number;
  drainTimeoutMs: number;
}

export interface SagaRun {
  offeredPerSec: number | null;
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
  rates: SagaRun[];
}

/** Small jobs and a short simulated training, so the pipeline, not the simulated work, is measured. */
const REQUEST = { trainingDurationMs: 10, resources: { cpuCores: 0, memoryGb: 1, gpuCount: 0, storageGb: 1 } };

async function run(count: number, ratePerSec: number | null, requesters: number, timeoutMs: number): Promise<SagaRun & { completedIds: string[] }> {
  const tenant = uniqueName('bench');
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
        ids.push((await trainNewModel(tenant, REQUEST)).sagaId);
      }
    }),
  );
  const finals = [...(await waitForTerminal(ids, timeoutMs)).values()].map((r) => r.state);
  return { ...summarizeSagas(finals, ratePerSec), completedIds: finals.filter((f) => f.status === 'Completed').map((f) => f.sagaId) };
}

export function summarizeSagas(finals: InstanceState[], offeredPerSec: number | null): SagaRun {
  const byState: Record<string, number> = {};
  for (const s of finals) byState[s.status] = (byState[s.status] ?? 0) + 1;
  const completed = finals.filter((s) => s.status === 'Completed' && s.startedAt && s.endedAt);
  const starts = finals.flatMap((s) => (s.startedAt ? [Date.parse(s.startedAt)] : []));
  const ends = completed.map((s) => Date.parse(s.endedAt!));
  const span = ends.length && starts.length ? Math.max(...ends) - Math.min(...starts) : 0;
  return {
    offeredPerSec,
    sagas: finals.length,
    byState,
    completedPerSec: ratePerSecond(completed.length, span),
    latency: summarizeLatencies(completed.map((s) => Date.parse(s.endedAt!) - Date.parse(s.startedAt))),
  };
}

export async function measureSagas(s: SagaSettings, log: (line: string) => void = () => undefined): Promise<SagaResult> {
  const rates: SagaRun[] = [];
  for (const rate of s.rates) {
    const r = await run(Math.max(1, Math.round(rate * s.rateSeconds)), rate, s.requesters, s.drainTimeoutMs);
    log(`sagas: offered ${rate}/s → ${JSON.stringify(r.byState)}, latency p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms`);
    const { completedIds: _, ...summary } = r;
    rates.push(summary);
  }
  const { completedIds, ...saturation } = await run(s.saturationSagas, null, s.requesters, s.drainTimeoutMs);
  log(`sagas: saturation ${saturation.completedPerSec} completed/s ${JSON.stringify(saturation.byState)}`);
  // Every message of one completed saga, read back from Kafka: converts sagas/s into messages/s.
  const sample = completedIds[0];
  const sources = historySources(await testProject());
  const messagesPerSaga = sample ? (await readLog(config, { topics: [...sources.sagas.keys()], catalogue: sources.catalogue, sagaId: sample, onMessage: () => undefined, timeoutMs: 60_000 })).messages : 0;
  return { scenario: 'sagas', messagesPerSaga, saturation, rates };
}
