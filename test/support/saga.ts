/** Helpers for end-to-end saga tests: processors as real OS processes, waiting for sagas, reading business tables. */
import pg from 'pg';
import { kafkaClient, pgPool } from '../../core/clients.ts';
import { databaseUrlFor, loadConfig, type Config } from '../../core/config.ts';
import { waitFor } from '../../core/wait.ts';
import { PROCESSOR_NAMES } from '../../processors/index.ts';
import { EVENT_LOG_TOPICS } from '../../topics/catalogue.ts';
import { addModel, DATABASE as MODEL_DB } from '../../processors/model-service/service.ts';
import { summarize, type SagaSummary } from '../../processors/saga-state/queries.ts';
import { loadStates } from '../../processors/saga-state/rebuild.ts';
import { LIVE_TABLE } from '../../processors/saga-state/service.ts';
import { TERMINAL, type SagaState, type SagaStatus } from '../../processors/saga/state.ts';
import { TimeoutError } from '../../core/errors.ts';
import { requestTraining, type TrainingRequestInput } from '../../processors/training-requests/request.ts';
import type { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { uniqueName } from './fixtures.ts';
import { processorsDown, processorsUp } from '../../processors/supervisor.ts';
import { waitForProcessorGroups } from '../../processors/ready.ts';
import { config as baseConfig } from './fixtures.ts';

/** Short deadlines so timeouts happen within a test. */
export const PROCESSOR_ENV: Record<string, string> = {
  SAGALINE_DEADLINE_RESERVE_MS: '8000',
  SAGALINE_DEADLINE_ALLOCATE_MS: '8000',
  SAGALINE_DEADLINE_TRAIN_MS: '10000',
  SAGALINE_DEADLINE_UPDATE_MS: '8000',
  SAGALINE_DEADLINE_AUDIT_MS: '8000',
  SAGALINE_TIMER_POLL_MS: '100',
  SAGALINE_CONSUMER_SESSION_TIMEOUT_MS: '8000',
  LOG_LEVEL: 'info',
};

export const processorConfig: Config = loadConfig({ ...process.env, ...PROCESSOR_ENV });

/** End offsets when the processors were started: where a new group (starting at "latest") begins. */
let baselineEnds = new Map<string, bigint>();
/** The environment the processors were started with, for restarting one that was killed. */
let processorEnv: NodeJS.ProcessEnv = { ...process.env, ...PROCESSOR_ENV };

/** Per "topic/partition" of every saga topic, the next offset to be written (the shape readLog's startAt takes). */
export async function eventLogEnds(): Promise<Map<string, bigint>> {
  const admin = kafkaClient(baseConfig, 'saga-test-offsets').admin();
  await admin.connect();
  try {
    const ends = new Map<string, bigint>();
    for (const { name } of EVENT_LOG_TOPICS) for (const p of await admin.fetchTopicOffsets(name)) ends.set(`${name}/${p.partition}`, BigInt(p.high));
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Tests start each processor's group at the current end of the log (other suites leave thousands
 * of unrelated messages behind) by committing those offsets for every partition where the group
 * has no offset yet or is behind. The processors themselves keep their default, "earliest": a restarted processor
 * must never skip what was written while it was down.
 */
export async function startGroupsAtEnd(): Promise<void> {
  const admin = kafkaClient(baseConfig, 'saga-test-groups').admin();
  await admin.connect();
  try {
    // Each setOffsets briefly joins the group and takes seconds: the groups are done in parallel.
    await Promise.all(
      PROCESSOR_NAMES.map(async (name) => {
        const groupId = `sagaline-${name}`;
        const committed = await admin.fetchOffsets({ groupId, topics: EVENT_LOG_TOPICS.map((t) => t.name) });
        for (const { topic, partitions } of committed) {
          const ends = await admin.fetchTopicOffsets(topic);
          // Not started yet, or behind because another suite wrote since: move to the end.
          const behind = partitions
            .map((p) => ({ partition: p.partition, committed: p.offset, offset: ends.find((e) => e.partition === p.partition)!.high }))
            .filter((p) => p.committed === '-1' || BigInt(p.committed) < BigInt(p.offset))
            .map(({ partition, offset }) => ({ partition, offset }));
          if (behind.length) await admin.setOffsets({ groupId, topic, partitions: behind });
        }
      }),
    );
  } finally {
    await admin.disconnect();
  }
}

export async function startProcessors(extraEnv: Record<string, string> = {}): Promise<void> {
  await processorsDown(processorConfig);
  baselineEnds = await eventLogEnds();
  await startGroupsAtEnd();
  processorEnv = { ...process.env, ...PROCESSOR_ENV, ...extraEnv };
  processorsUp(processorConfig, processorEnv);
  await waitForConsumerGroups();
}

/** Starts again, with the environment of startProcessors (and `overrides` from now on), every processor that is not running (a killed one). */
export function restartProcessors(overrides: Record<string, string> = {}): void {
  processorEnv = { ...processorEnv, ...overrides };
  processorsUp(processorConfig, processorEnv);
}

/** Every processor's consumer group has joined with members (so "latest" means "from now on"). */
export async function waitForConsumerGroups(timeoutMs = 90_000, abortIf?: () => void): Promise<void> {
  await waitForProcessorGroups(baseConfig, timeoutMs, PROCESSOR_NAMES, abortIf);
}

export async function stopProcessors(): Promise<void> {
  await processorsDown(processorConfig);
}


/** Where each saga stands in the live projection now; a saga not projected yet is absent. */
export async function sagaSummaries(sagaIds: string[]): Promise<Map<string, SagaSummary>> {
  const pool = pgPool(baseConfig, 'sagaline', 1);
  pool.on('error', () => undefined); // a connection the server dropped is reported by the query itself
  try {
    const states = await loadStates(pool, LIVE_TABLE, sagaIds).catch((err: { code?: string }) => {
      if (err.code === '42P01') return new Map<string, SagaState>(); // saga-state has not created its table yet
      throw err;
    });
    return new Map([...states].map(([id, state]) => [id, summarize(state)]));
  } finally {
    await pool.end();
  }
}

/** `abortIf` throws to stop waiting at once (e.g. a processor exited). */
export async function waitForTerminal(sagaIds: string[], timeoutMs = 120_000, abortIf?: () => void): Promise<Map<string, SagaSummary>> {
  return waitFor(
    `${sagaIds.length} saga(s) to reach a terminal state`,
    async () => {
      const summaries = await sagaSummaries(sagaIds);
      return sagaIds.every((id) => TERMINAL.includes(summaries.get(id)?.state as SagaStatus)) && summaries;
    },
    { timeoutMs, intervalMs: 500, ...(abortIf ? { abortIf } : {}) },
  );
}

/**
 * Waits until every saga is terminal, the deadline passes or `abortIf` throws, and says where each
 * stands then: `stuck` lists the ones not terminal (or never projected); `abortedBy`, why the wait
 * stopped early.
 */
export async function waitForTerminalOrDeadline(
  sagaIds: string[],
  timeoutMs: number,
  abortIf?: () => void,
): Promise<{ outcomes: Map<string, SagaSummary>; stuck: string[]; abortedBy?: string }> {
  let aborted: unknown;
  const watch = abortIf && (() => {
    try {
      abortIf();
    } catch (err) {
      aborted = err;
      throw err;
    }
  });
  const outcomes = await waitForTerminal(sagaIds, timeoutMs, watch).catch(async (err) => {
    if (!(err instanceof TimeoutError) && err !== aborted) throw err;
    return sagaSummaries(sagaIds);
  });
  const stuck = sagaIds.filter((id) => !TERMINAL.includes(outcomes.get(id)?.state as SagaStatus));
  return { outcomes, stuck, ...(aborted ? { abortedBy: (aborted as Error).message } : {}) };
}

export async function addTestModel(modelId: string, tenantId: string): Promise<void> {
  const pool = pgPool(baseConfig, MODEL_DB, 1);
  try {
    await addModel(pool, { tenantId, modelId, version: 'v1' });
  } finally {
    await pool.end();
  }
}

/** A new model for `tenantId`, and a training saga started on it (as `sagaline model add` + `train` would). */
export async function trainNewModel(
  tenantId: string,
  request: Omit<TrainingRequestInput, 'tenantId' | 'modelId'> = {},
  writer?: OutboxWriter,
): Promise<{ sagaId: string; modelId: string }> {
  const modelId = uniqueName('model');
  await addTestModel(modelId, tenantId);
  const sagaId = await requestTraining(baseConfig, { tenantId, modelId, ...request }, writer ? { writer } : {});
  return { sagaId, modelId };
}

export async function query<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrlFor(baseConfig, database) });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Everything the saga touched in the business tables, for before/after comparisons. */
export async function businessSnapshot(sagaId: string, modelId: string): Promise<Record<string, unknown>> {
  return {
    model: await query('model_service', 'select version, reserved_by from models where model_id = $1', [modelId]),
    versions: await query('model_service', 'select version from model_versions where model_id = $1 order by version', [modelId]),
    reservations: await query('model_service', 'select status from reservations where saga_id = $1', [sagaId]),
    allocations: await query('resource_service', 'select status from allocations where saga_id = $1', [sagaId]),
    jobs: await query('training_service', 'select status from training_jobs where saga_id = $1', [sagaId]),
    audit: await query('audit_service', 'select entry, version from audit_log where saga_id = $1 order by entry', [sagaId]),
  };
}

/** Every processor's consumer group has committed up to the end of every saga topic. */
export async function waitForNoLag(timeoutMs = 90_000): Promise<void> {
  const admin = kafkaClient(baseConfig, 'saga-test-lag').admin();
  await admin.connect();
  try {
    const topics = EVENT_LOG_TOPICS.map((t) => t.name);
    const ends = await eventLogEnds();
    await waitFor(
      'every processor to have consumed every saga topic to its end',
      async () => {
        for (const name of PROCESSOR_NAMES) {
          const offsets = await admin.fetchOffsets({ groupId: `sagaline-${name}`, topics });
          for (const t of offsets) {
            for (const p of t.partitions) {
              const key = `${t.topic}/${p.partition}`;
              const end = ends.get(key) ?? 0n;
              // Nothing committed yet: the group started at the end of the log as it was then.
              const committed = p.offset === '-1' ? (baselineEnds.get(key) ?? 0n) : BigInt(p.offset);
              if (committed < end) return false;
            }
          }
        }
        return true;
      },
      { timeoutMs, intervalMs: 500 },
    );
  } finally {
    await admin.disconnect();
  }
}
