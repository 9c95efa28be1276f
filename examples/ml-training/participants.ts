/**
 * The training saga's four services, each step beside its compensation. Every handler runs in the
 * service's own transaction, so its business change and the message that reports it commit
 * together; the engine does the inbox, outbox, retries, deadlines and the rest.
 */
import { fail, later, ok, participant, SagalineError, type Participant, type PollContext, type SagaDefinition } from '../../index.ts';
import type pg from 'pg';
import type { ModelUpdated, ModelReserved, ResourcesAllocated, TrainingCompleted } from './generated.ts';
import { lever, request, simulation, transient } from './levers.ts';
import { MODEL_DATABASE, MODEL_DDL, nextVersion } from './models.ts';
import { DEFAULT_SETTINGS, type Capacity, type TrainingSettings } from './settings.ts';

export const RESOURCE_DATABASE = 'ml_compute';
export const TRAINING_DATABASE = 'ml_training';
export const AUDIT_DATABASE = 'ml_audit';

async function one(tx: pg.ClientBase, sql: string, params: unknown[], what: string): Promise<void> {
  const res = await tx.query(sql, params);
  if (res.rowCount !== 1) throw new SagalineError('INVARIANT', `${what}: expected one row, changed ${res.rowCount}`);
}

const resultOf = <T>(saga: { steps: Record<string, { result?: unknown } | undefined> }, step: string): T | undefined => saga.steps[step]?.result as T | undefined;

/** model-service: reserves the model for the saga, later moves it to the trained version; lets go of the reservation when the saga ends. */
export function modelService(saga: SagaDefinition): Participant {
  return participant(saga, 'model-service', {
    database: MODEL_DATABASE,
    ddl: MODEL_DDL,
    steps: {
      RESERVE: {
        // When retries run out, the engine writes the failure message with this payload.
        failurePayload: (reason, saga) => ({ sagaId: saga.sagaId, modelId: (saga.start.payload as { modelId: string }).modelId, reason }),
        async act(input) {
          const l = lever(input);
          if (l && 'hang' in l) return l.hang;
          const { modelId, tenantId } = request(input);
          const sagaId = input.saga.sagaId;
          const model = (await input.tx.query('select tenant_id, reserved_by from models where model_id = $1 for update', [modelId])).rows[0];
          const problem = l?.fail
            ?? (!model || model.tenant_id !== tenantId ? `model ${modelId} is not registered for tenant ${tenantId}` : undefined)
            ?? (model.reserved_by && model.reserved_by !== sagaId ? `model ${modelId} is already reserved by saga ${model.reserved_by}` : undefined);
          if (problem) return fail(problem, { sagaId, modelId, reason: problem });
          const reservationId = crypto.randomUUID();
          await one(input.tx, 'update models set reserved_by = $2, updated_at = now() where model_id = $1 and reserved_by is null', [modelId, sagaId], `reserve ${modelId}`);
          await input.tx.query("insert into reservations (reservation_id, saga_id, model_id, status) values ($1, $2, $3, 'held')", [reservationId, sagaId, modelId]);
          return ok({ sagaId, modelId, reservationId });
        },
        async compensate(input) {
          transient(input, true);
          const { modelId } = request(input);
          const sagaId = input.saga.sagaId;
          await releaseModel(input.tx, modelId, sagaId);
          const reservationId = (input.result as ModelReserved | undefined)?.reservationId ?? '';
          return ok({ sagaId, modelId, reservationId, reason: `released: ${input.saga.reason ?? 'the saga is compensated'}`, compensation: true });
        },
      },
      UPDATE: {
        // When retries run out, the engine writes the failure message with this payload.
        failurePayload: (reason, saga) => ({ sagaId: saga.sagaId, modelId: (saga.start.payload as { modelId: string }).modelId, reason }),
        async act(input) {
          const l = lever(input);
          if (l && 'hang' in l) return l.hang;
          const { modelId } = request(input);
          const sagaId = input.saga.sagaId;
          const model = (await input.tx.query('select version from models where model_id = $1 for update', [modelId])).rows[0];
          const problem = l?.fail ?? (!model ? `model ${modelId} no longer exists` : undefined);
          if (problem) return fail(problem, { sagaId, modelId, reason: problem });
          const trained = resultOf<TrainingCompleted>(input.saga, 'TRAIN');
          const toVersion = nextVersion(model.version);
          await one(input.tx, 'update models set version = $3, updated_at = now() where model_id = $1 and version = $2', [modelId, model.version, toVersion], `update ${modelId}`);
          await input.tx.query('insert into model_versions (model_id, version, saga_id, artifacts_uri) values ($1, $2, $3, $4)', [modelId, toVersion, sagaId, trained?.artifacts.modelBinaryUri ?? '']);
          return ok({ sagaId, modelId, previousVersion: model.version, newVersion: toVersion });
        },
        async compensate(input) {
          transient(input, true);
          const { modelId } = request(input);
          const updated = input.result as ModelUpdated;
          await input.tx.query('update models set version = $2, updated_at = now() where model_id = $1 and version = $3', [modelId, updated.previousVersion, updated.newVersion]);
          return ok({ sagaId: input.saga.sagaId, modelId, restoredVersion: updated.previousVersion, reason: `reverted to ${updated.previousVersion}: ${input.saga.reason ?? 'the saga is compensated'}` });
        },
      },
    },
    // The reservation is held only while the saga runs: it ends Completed (or Compensated, after a release that found nothing).
    async onEnd({ saga: instance, tx }) {
      await releaseModel(tx, (instance.start.payload as { modelId: string }).modelId, instance.sagaId);
    },
  });
}

async function releaseModel(tx: pg.ClientBase, modelId: string, sagaId: string): Promise<void> {
  await tx.query('update models set reserved_by = null, updated_at = now() where model_id = $1 and reserved_by = $2', [modelId, sagaId]);
  await tx.query("update reservations set status = 'released', released_at = now() where saga_id = $1 and status = 'held'", [sagaId]);
}

export const resourceDdl = (pool: Capacity): string[] => [
  `create table if not exists compute_pool (
     id int primary key check (id = 1),
     cpu_cores int not null, memory_gb int not null, gpu_count int not null, storage_gb int not null)`,
  `insert into compute_pool values (1, ${pool.cpuCores}, ${pool.memoryGb}, ${pool.gpuCount}, ${pool.storageGb}) on conflict (id) do nothing`,
  `create table if not exists allocations (
     allocation_id uuid primary key,
     saga_id       text not null unique,
     cpu_cores int not null, memory_gb int not null, gpu_count int not null, storage_gb int not null,
     compute_nodes text[] not null,
     status        text not null check (status in ('held', 'released')),
     created_at    timestamptz not null default now(),
     released_at   timestamptz)`,
  // What is held is summed on every allocation: only the held rows are read, however long the history.
  `create index if not exists allocations_held on allocations (saga_id) include (cpu_cores, memory_gb, gpu_count, storage_gb) where status = 'held'`,
];

/** Names of the requests that exceed what is free, e.g. ["gpuCount 4 > 2 free"]. Pure. */
export function shortfall(wanted: Capacity, free: Capacity): string[] {
  return (['cpuCores', 'memoryGb', 'gpuCount', 'storageGb'] as const).filter((k) => wanted[k] > free[k]).map((k) => `${k} ${wanted[k]} > ${free[k]} free`);
}

async function releaseAllocation(tx: pg.ClientBase, sagaId: string): Promise<number> {
  return (await tx.query("update allocations set status = 'released', released_at = now() where saga_id = $1 and status = 'held'", [sagaId])).rowCount ?? 0;
}

/** resource-service: allocates compute from a finite pool, and gives it back when the saga ends either way. */
export function resourceService(saga: SagaDefinition, pool: Capacity = DEFAULT_SETTINGS.pool): Participant {
  return participant(saga, 'resource-service', {
    database: RESOURCE_DATABASE,
    ddl: resourceDdl(pool),
    steps: {
      ALLOCATE: {
        // When retries run out, the engine writes the failure message with this payload.
        failurePayload: (reason, saga) => ({ sagaId: saga.sagaId, reason }),
        async act(input) {
          const l = lever(input);
          if (l && 'hang' in l) return l.hang;
          const sagaId = input.saga.sagaId;
          // Locking the pool row serialises allocations: two sagas never both take the last GPU.
          const total = (await input.tx.query('select * from compute_pool where id = 1 for update')).rows[0];
          const used = (await input.tx.query(`select coalesce(sum(cpu_cores),0)::int c, coalesce(sum(memory_gb),0)::int m, coalesce(sum(gpu_count),0)::int g, coalesce(sum(storage_gb),0)::int s
                                               from allocations where status = 'held'`)).rows[0];
          const free = { cpuCores: total.cpu_cores - used.c, memoryGb: total.memory_gb - used.m, gpuCount: total.gpu_count - used.g, storageGb: total.storage_gb - used.s };
          const wanted = request(input).resources;
          const missing = shortfall(wanted, free);
          const problem = l?.fail ?? (missing.length > 0 ? `not enough free compute: ${missing.join(', ')}` : undefined);
          if (problem) return fail(problem, { sagaId, reason: problem });
          const allocationId = crypto.randomUUID();
          const computeNodes = Array.from({ length: Math.max(1, Math.ceil(wanted.cpuCores / 8)) }, (_, i) => `node-${allocationId.slice(0, 8)}-${i + 1}`);
          await input.tx.query(
            "insert into allocations (allocation_id, saga_id, cpu_cores, memory_gb, gpu_count, storage_gb, compute_nodes, status) values ($1, $2, $3, $4, $5, $6, $7, 'held')",
            [allocationId, sagaId, wanted.cpuCores, wanted.memoryGb, wanted.gpuCount, wanted.storageGb, computeNodes],
          );
          return ok({ sagaId, allocationId, computeNodes });
        },
        async compensate(input) {
          transient(input, true);
          const released = await releaseAllocation(input.tx, input.saga.sagaId);
          const allocationId = (input.result as ResourcesAllocated | undefined)?.allocationId ?? '';
          return ok({ sagaId: input.saga.sagaId, allocationId, reason: `${released ? 'released' : 'nothing allocated'}: ${input.saga.reason ?? 'the saga is compensated'}`, compensation: true });
        },
      },
    },
    async onEnd({ saga: instance, tx }) {
      await releaseAllocation(tx, instance.sagaId);
    },
  });
}

export const TRAINING_DDL = [
  `create table if not exists training_jobs (
     job_id      uuid primary key,
     saga_id     text not null unique,
     status      text not null check (status in ('running', 'completed', 'failed', 'cancelled')),
     should_fail boolean not null default false,
     started_at  timestamptz not null default now(),
     finish_at   timestamptz,
     finished_at timestamptz)`,
  // The poll below looks only at running jobs: without this index it reads every job ever run, 40 times a second.
  `create index if not exists training_jobs_due on training_jobs (finish_at) where status = 'running'`,
];

/**
 * Finishes the jobs whose time is up (a durable timer: finish_at is in the table), reporting each
 * step's outcome — all due jobs in one transaction: the jobs' new status and the replies commit
 * together, or none does and the next poll tries again.
 */
export async function finishDueJobs({ db, complete }: PollContext): Promise<number> {
  const client = await db.connect();
  try {
    await client.query('begin');
    const due = (
      await client.query(
        `update training_jobs j set status = case when j.should_fail then 'failed' else 'completed' end, finished_at = now()
          where j.job_id in (select job_id from training_jobs where status = 'running' and finish_at <= now() order by finish_at limit 200 for update skip locked)
          returning j.job_id, j.saga_id, j.should_fail`,
      )
    ).rows as { job_id: string; saga_id: string; should_fail: boolean }[];
    let reported = 0;
    for (const job of due) {
      const outcome = job.should_fail
        ? fail('simulated failure at TRAIN', { sagaId: job.saga_id, jobId: job.job_id, reason: 'simulated failure at TRAIN' })
        : ok({
            sagaId: job.saga_id,
            jobId: job.job_id,
            artifacts: { modelBinaryUri: `s3://models/${job.job_id}/model.bin`, metadata: {}, metrics: { accuracy: 0.9 } },
            completedAt: Date.now(),
          });
      // false: the saga no longer waits for this job (its deadline passed and it was cancelled); the job stays finished, unreported.
      if (await complete({ sagaId: job.saga_id, step: 'TRAIN', outcome }, client)) reported += 1;
    }
    await client.query('commit');
    return reported;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** training-service: starts a job (it reports later, from the poll); cancels it when the saga is compensated or the step's deadline passes. */
export function trainingService(saga: SagaDefinition, settings: Pick<TrainingSettings, 'jobPollMs'> = DEFAULT_SETTINGS): Participant {
  const cancelJob = async (tx: pg.ClientBase, sagaId: string) =>
    (await tx.query("update training_jobs set status = 'cancelled', finished_at = now() where saga_id = $1 and status in ('running', 'completed') returning job_id", [sagaId])).rows[0]?.job_id as string | undefined;
  return participant(saga, 'training-service', {
    database: TRAINING_DATABASE,
    ddl: TRAINING_DDL,
    steps: {
      TRAIN: {
        // When retries run out, the engine writes the failure message with this payload.
        failurePayload: (reason, saga) => ({ sagaId: saga.sagaId, jobId: null, reason }),
        async act(input) {
          transient(input);
          const sim = simulation(input);
          const sagaId = input.saga.sagaId;
          if (sim.failAt === 'TRAIN' && sim.trainingDurationMs <= 0) return fail('simulated failure at TRAIN', { sagaId, jobId: null, reason: 'simulated failure at TRAIN' });
          const finishAt = sim.hangAt === 'TRAIN' ? null : new Date(Date.now() + sim.trainingDurationMs);
          await input.tx.query("insert into training_jobs (job_id, saga_id, status, should_fail, finish_at) values ($1, $2, 'running', $3, $4) on conflict (saga_id) do nothing", [crypto.randomUUID(), sagaId, sim.failAt === 'TRAIN', finishAt]);
          return later();
        },
        async compensate(input) {
          transient(input, true);
          const jobId = await cancelJob(input.tx, input.saga.sagaId);
          return ok({ sagaId: input.saga.sagaId, jobId: jobId ?? null, reason: `${jobId ? `job ${jobId} cancelled` : 'no job was running'}: ${input.saga.reason ?? 'the saga is compensated'}` });
        },
        async cancel(input) {
          await cancelJob(input.tx, input.saga.sagaId);
        },
      },
    },
    poll: { intervalMs: settings.jobPollMs, run: finishDueJobs },
  });
}

export const AUDIT_DDL = [
  `create table if not exists audit_log (
     audit_id  uuid primary key,
     saga_id   text not null,
     entry     text not null check (entry in ('completed', 'reverted')),
     tenant_id text not null,
     model_id  text not null,
     version   text not null,
     logged_at timestamptz not null default now(),
     unique (saga_id, entry))`,
  `create or replace function audit_log_is_append_only() returns trigger language plpgsql as $$
   begin raise exception 'audit_log is append-only: % refused', tg_op; end $$`,
  `do $$ begin
     if not exists (select 1 from pg_trigger where tgname = 'audit_log_append_only') then
       create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_is_append_only();
     end if;
   end $$`,
];

/** audit-service: appends the completion to an append-only log; a compensation appends a second entry that reverts it. */
export function auditService(saga: SagaDefinition): Participant {
  const append = (tx: pg.ClientBase, entry: 'completed' | 'reverted', sagaId: string, r: { tenantId: string; modelId: string }, version: string) =>
    tx.query('insert into audit_log (audit_id, saga_id, entry, tenant_id, model_id, version) values ($1, $2, $3, $4, $5, $6) on conflict (saga_id, entry) do nothing returning audit_id', [crypto.randomUUID(), sagaId, entry, r.tenantId, r.modelId, version]);
  return participant(saga, 'audit-service', {
    database: AUDIT_DATABASE,
    ddl: AUDIT_DDL,
    steps: {
      AUDIT: {
        // When retries run out, the engine writes the failure message with this payload.
        failurePayload: (reason, saga) => ({ sagaId: saga.sagaId, reason }),
        async act(input) {
          const l = lever(input);
          if (l && 'hang' in l) return l.hang;
          const sagaId = input.saga.sagaId;
          if (l?.fail) return fail(l.fail, { sagaId, reason: l.fail });
          const updated = resultOf<ModelUpdated>(input.saga, 'UPDATE');
          const { rows } = await append(input.tx, 'completed', sagaId, request(input), updated?.newVersion ?? '');
          return ok({ sagaId, auditId: rows[0]?.audit_id ?? '' });
        },
        async compensate(input) {
          transient(input, true);
          const sagaId = input.saga.sagaId;
          const updated = resultOf<ModelUpdated>(input.saga, 'UPDATE');
          const { rows } = await append(input.tx, 'reverted', sagaId, request(input), updated?.previousVersion ?? '');
          return ok({ sagaId, auditId: rows[0]?.audit_id ?? '' });
        },
      },
    },
  });
}

/** The four participants of a training saga definition, with the example's settings. */
export function trainingParticipants(saga: SagaDefinition, settings: TrainingSettings = DEFAULT_SETTINGS): Participant[] {
  return [modelService(saga), resourceService(saga, settings.pool), trainingService(saga, settings), auditService(saga)];
}
