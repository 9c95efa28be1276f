/**
 * Helpers for end-to-end saga tests: a project's processes as real OS processes (`processors up
 * --config`, as a user runs them), waiting for instances to end, reading business tables.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { kafkaClient, pgPool } from '../../core/clients.ts';
import { databaseUrlFor, loadConfig, type Config } from '../../core/config.ts';
import { TimeoutError } from '../../core/errors.ts';
import { waitFor } from '../../core/wait.ts';
import { sagaClient, type SagaClient, type SagaRecord } from '../../processors/engine/client.ts';
import { monitorGroup, SAGAS_DATABASE } from '../../processors/engine/monitor.ts';
import { participantGroup } from '../../processors/engine/run-participant.ts';
import { loadProject, type Project } from '../../processors/engine/project.ts';
import type { InstanceState, InstanceStatus } from '../../processors/saga/instance.ts';
import { processorPlan, processorsDown, processorsUp, waitForProcessors } from '../../processors/supervisor.ts';
import { byName, sagaTopic } from '../../topics/derived.ts';
import { provisionSagas } from '../../infra/provision-sagas.ts';
import { addModel, MODEL_DATABASE } from '../../examples/ml-training/models.ts';
import { AUDIT_DATABASE, RESOURCE_DATABASE, TRAINING_DATABASE } from '../../examples/ml-training/participants.ts';
import { requestTraining, type TrainingRequestInput } from '../../examples/ml-training/request.ts';
import { config as baseConfig, uniqueName } from './fixtures.ts';

export const TRAINING_CONFIG = fileURLToPath(new URL('../../examples/ml-training/sagaline.config.ts', import.meta.url));
export const DEPLOYMENT_CONFIG = fileURLToPath(new URL('../../examples/model-deployment/sagaline.config.ts', import.meta.url));
/** The saga whose steps are HTTP calls (its services: test/support/http-services.ts, reached through SAGALINE_SERVICES). */
export const HTTP_CONFIG = fileURLToPath(new URL('../fixtures/http-saga/sagaline.config.ts', import.meta.url));

/** Short deadlines so timeouts happen within a test; the examples read them from the environment. */
export const PROCESSOR_ENV: Record<string, string> = {
  TRAINING_DEADLINE_RESERVE_MS: '8000',
  TRAINING_DEADLINE_ALLOCATE_MS: '8000',
  TRAINING_DEADLINE_TRAIN_MS: '10000',
  TRAINING_DEADLINE_UPDATE_MS: '8000',
  TRAINING_DEADLINE_AUDIT_MS: '8000',
  TRAINING_JOB_POLL_MS: '100',
  SAGALINE_TIMER_POLL_MS: '100',
  SAGALINE_CONSUMER_SESSION_TIMEOUT_MS: '8000',
  LOG_LEVEL: 'info',
};

export const processorConfig: Config = loadConfig({ ...process.env, ...PROCESSOR_ENV });
/** Two projects running at once need their own metrics ports: the deployment example's start 20 above the training example's. */
const deploymentConfig: Config = loadConfig({ ...process.env, ...PROCESSOR_ENV, SAGALINE_METRICS_PORT_BASE: String(processorConfig.processorMetricsPortBase + 20) });
/** …and the HTTP saga's 40 above. */
const httpConfig: Config = loadConfig({ ...process.env, ...PROCESSOR_ENV, SAGALINE_METRICS_PORT_BASE: String(processorConfig.processorMetricsPortBase + 40) });
/** The config a project's processes run with (their metrics ports). */
export const configOf = (file: string): Config => (file === DEPLOYMENT_CONFIG ? deploymentConfig : file === HTTP_CONFIG ? httpConfig : processorConfig);

const projects = new Map<string, Promise<Project>>();
/** A config module, loaded once per test file. */
export function testProject(file = TRAINING_CONFIG): Promise<Project> {
  if (!projects.has(file)) projects.set(file, loadProject(file));
  return projects.get(file) as Promise<Project>;
}

/** The environment each project's processes were started with, for restarting one that was killed. */
const processorEnv = new Map<string, NodeJS.ProcessEnv>();
/** End offsets when the processes were started: where a new group (starting at "latest") begins. */
let baselineEnds = new Map<string, bigint>();

const topicsOf = (project: Project): string[] => [...byName(project.sagas).values()].map((versions) => sagaTopic(versions).name);

/** Per "topic/partition" of the project's saga topics, the next offset to be written. */
export async function eventLogEnds(project: Project): Promise<Map<string, bigint>> {
  const admin = kafkaClient(baseConfig, 'saga-test-offsets').admin();
  await admin.connect();
  try {
    const ends = new Map<string, bigint>();
    for (const name of topicsOf(project)) for (const p of await admin.fetchTopicOffsets(name)) ends.set(`${name}/${p.partition}`, BigInt(p.high));
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Tests start each process's groups at the current end of the log (other suites leave thousands of
 * unrelated messages behind) by committing those offsets where a group has none or is behind. The
 * processes keep their default, "earliest": a restarted one must never skip what was written while
 * it was down.
 */
export async function startGroupsAtEnd(project: Project): Promise<void> {
  const admin = kafkaClient(baseConfig, 'saga-test-groups').admin();
  await admin.connect();
  try {
    const groups = processorPlan(baseConfig, project).flatMap((p) => p.groups);
    const topics = topicsOf(project);
    // Each setOffsets briefly joins the group and takes seconds: the groups are done in parallel.
    await Promise.all(
      groups.map(async (groupId) => {
        for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
          const ends = await admin.fetchTopicOffsets(topic);
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

/** Provisions the project (idempotent), stops its processes, moves their groups to the end of the log, starts them and waits until they consume. */
export async function startProcessors(extraEnv: Record<string, string> = {}, file = TRAINING_CONFIG, instances = 1): Promise<Project> {
  const project = await testProject(file);
  await provisionSagas(baseConfig, project);
  await processorsDown(configOf(file), project);
  baselineEnds = new Map([...baselineEnds, ...(await eventLogEnds(project))]);
  await startGroupsAtEnd(project);
  const env = { ...process.env, ...PROCESSOR_ENV, ...extraEnv };
  processorEnv.set(file, env);
  processorsUp(configOf(file), project, env, undefined, instances);
  await waitForProcessors(configOf(file), project);
  return project;
}

/** Starts again, with the environment of startProcessors (and `overrides` from now on), every process of the project that is not running (a killed one). */
export async function restartProcessors(overrides: Record<string, string> = {}, file = TRAINING_CONFIG): Promise<void> {
  const env = { ...(processorEnv.get(file) ?? { ...process.env, ...PROCESSOR_ENV }), ...overrides };
  processorEnv.set(file, env);
  processorsUp(configOf(file), await testProject(file), env);
}

/** Every process of the project consumes (its groups are Stable with members). */
export async function waitForConsumerGroups(file = TRAINING_CONFIG, timeoutMs = 90_000): Promise<void> {
  await waitForProcessors(configOf(file), await testProject(file), undefined, timeoutMs);
}

export async function stopProcessors(file = TRAINING_CONFIG): Promise<void> {
  await processorsDown(configOf(file), await testProject(file));
}

export const TERMINAL: readonly InstanceStatus[] = ['Completed', 'Compensated', 'Failed'];

/** Where each instance stands in the monitor's projection now; one not projected yet is absent. */
export async function sagaRecords(sagaIds: string[]): Promise<Map<string, { status: InstanceStatus; state: InstanceState }>> {
  const pool = pgPool(baseConfig, SAGAS_DATABASE, 1);
  pool.on('error', () => undefined); // a connection the server dropped is reported by the query itself
  try {
    const { rows } = await pool.query<{ saga_id: string; status: InstanceStatus; state: InstanceState }>('select saga_id, status, state from saga_instances where saga_id = any($1)', [sagaIds]).catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] }; // the monitor has not created its table yet
      throw err;
    });
    return new Map(rows.map((r) => [r.saga_id, { status: r.status, state: r.state }]));
  } finally {
    await pool.end();
  }
}

/** `abortIf` throws to stop waiting at once (e.g. a process exited). Parked counts as ended when `parkedEnds`. */
export async function waitForTerminal(sagaIds: string[], timeoutMs = 120_000, abortIf?: () => void, parkedEnds = false): Promise<Map<string, { status: InstanceStatus; state: InstanceState }>> {
  const ends = parkedEnds ? [...TERMINAL, 'Parked'] : TERMINAL;
  return waitFor(
    `${sagaIds.length} saga(s) to reach a terminal status`,
    async () => {
      const records = await sagaRecords(sagaIds);
      return sagaIds.every((id) => ends.includes(records.get(id)?.status as InstanceStatus)) && records;
    },
    { timeoutMs, intervalMs: 500, ...(abortIf ? { abortIf } : {}) },
  );
}

/**
 * Waits until every instance is terminal, the deadline passes or `abortIf` throws, and says where
 * each stands then: `stuck` lists the ones not terminal (or never projected); `abortedBy`, why the
 * wait stopped early.
 */
export async function waitForTerminalOrDeadline(
  sagaIds: string[],
  timeoutMs: number,
  abortIf?: () => void,
): Promise<{ outcomes: Map<string, { status: InstanceStatus; state: InstanceState }>; stuck: string[]; abortedBy?: string }> {
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
    return sagaRecords(sagaIds);
  });
  const stuck = sagaIds.filter((id) => !TERMINAL.includes(outcomes.get(id)?.status as InstanceStatus));
  return { outcomes, stuck, ...(aborted ? { abortedBy: (aborted as Error).message } : {}) };
}

let trainingClient: Promise<SagaClient> | undefined;
/** A client of the training example's sagas (made once per test file; it lives until the process ends). */
export async function trainingSagaClient(): Promise<SagaClient> {
  const project = await testProject(TRAINING_CONFIG);
  trainingClient ??= sagaClient(project.sagas, { config: baseConfig, schemas: project.schemas });
  return trainingClient;
}

export async function addTestModel(modelId: string, tenantId: string): Promise<void> {
  const pool = pgPool(baseConfig, MODEL_DATABASE, 1);
  try {
    await addModel(pool, { tenantId, modelId, version: 'v1' });
  } finally {
    await pool.end();
  }
}

/** A new model for `tenantId`, and a training saga started on it. */
export async function trainNewModel(tenantId: string, request: Omit<TrainingRequestInput, 'tenantId' | 'modelId'> = {}): Promise<{ sagaId: string; modelId: string }> {
  const modelId = uniqueName('model');
  await addTestModel(modelId, tenantId);
  const project = await testProject(TRAINING_CONFIG);
  const pool = pgPool(baseConfig, MODEL_DATABASE, 1);
  try {
    const sagaId = await requestTraining(await trainingSagaClient(), project.sagas[0] as Project['sagas'][number], pool, { tenantId, modelId, ...request });
    return { sagaId, modelId };
  } finally {
    await pool.end();
  }
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

/** Everything a training saga touched in the example's business tables, for before/after comparisons. */
export async function businessSnapshot(sagaId: string, modelId: string): Promise<Record<string, unknown>> {
  return {
    model: await query(MODEL_DATABASE, 'select version, reserved_by from models where model_id = $1', [modelId]),
    versions: await query(MODEL_DATABASE, 'select version from model_versions where model_id = $1 order by version', [modelId]),
    reservations: await query(MODEL_DATABASE, 'select status from reservations where saga_id = $1', [sagaId]),
    allocations: await query(RESOURCE_DATABASE, 'select status from allocations where saga_id = $1', [sagaId]),
    jobs: await query(TRAINING_DATABASE, 'select status from training_jobs where saga_id = $1', [sagaId]),
    audit: await query(AUDIT_DATABASE, 'select entry, version from audit_log where saga_id = $1 order by entry', [sagaId]),
  };
}

/** Every group of the project's processes has committed up to the end of its saga topics. */
export async function waitForNoLag(file = TRAINING_CONFIG, timeoutMs = 90_000): Promise<void> {
  const project = await testProject(file);
  const admin = kafkaClient(baseConfig, 'saga-test-lag').admin();
  await admin.connect();
  try {
    const topics = topicsOf(project);
    const ends = await eventLogEnds(project);
    const groups = processorPlan(baseConfig, project).flatMap((p) => p.groups);
    const topicOfGroup = new Map<string, string[]>();
    for (const versions of byName(project.sagas).values()) {
      const topic = sagaTopic(versions).name;
      topicOfGroup.set(monitorGroup(versions[0]!.name), [topic]);
      for (const p of project.participants.filter((x) => x.saga.name === versions[0]!.name)) topicOfGroup.set(participantGroup(p), [topic]);
    }
    await waitFor(
      `every process of ${project.file} to have consumed its saga topics to their end`,
      async () => {
        for (const groupId of groups) {
          // A group reads its own saga's topic only (a project may have several sagas).
          for (const t of await admin.fetchOffsets({ groupId, topics: topicOfGroup.get(groupId) ?? topics })) {
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
