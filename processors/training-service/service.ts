/** training-service's shell: training jobs, and the poller that finishes them when their time is up. */
import type pg from 'pg';
import type { Incoming } from '../saga/decision.ts';
import { decideAndAct, inTransaction, loadView, saveView, type ParticipantDefinition, type ShellDeps } from '../runtime/participant.ts';
import { countPublished } from '../runtime/metrics.ts';
import { decide, decideJobDue, type Job, type TrainingCommand, type TrainingFacts } from './decide.ts';

export const DATABASE = 'training_service';

export const DDL = [
  `create table if not exists training_jobs (
     job_id      uuid primary key,
     saga_id     text not null unique,
     status      text not null check (status in ('running', 'completed', 'failed', 'cancelled')),
     started_at  timestamptz not null default now(),
     finish_at   timestamptz,
     finished_at timestamptz)`,
];

function toJob(r: { job_id: string; status: Job['status']; finish_at: Date | null }): Job {
  return { jobId: r.job_id, status: r.status, finishAt: r.finish_at ? r.finish_at.getTime() : null };
}

async function jobOf(client: pg.ClientBase, sagaId: string): Promise<Job | null> {
  const { rows } = await client.query('select job_id, status, finish_at from training_jobs where saga_id = $1 for update', [sagaId]);
  return rows[0] ? toJob(rows[0]) : null;
}

export const trainingService: ParticipantDefinition<TrainingFacts, TrainingCommand> = {
  name: 'training-service',
  database: DATABASE,
  ddl: DDL,
  async loadFacts(client, state) {
    return { job: await jobOf(client, state.sagaId) };
  },
  decide,
  async apply(client, c) {
    switch (c.kind) {
      case 'start':
        await client.query("insert into training_jobs (job_id, saga_id, status, finish_at) values ($1, $2, 'running', $3)", [c.jobId, c.sagaId, c.finishAt === null ? null : new Date(c.finishAt)]);
        return;
      case 'finish':
        await client.query("update training_jobs set status = $2, finished_at = now() where job_id = $1 and status = 'running'", [c.jobId, c.status]);
        return;
      case 'cancel':
        await client.query("update training_jobs set status = 'cancelled', finished_at = now() where job_id = $1 and status in ('running', 'completed')", [c.jobId]);
        return;
      default: {
        const unreachable: never = c;
        throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
      }
    }
  },
};

/** Finishes the jobs whose simulated duration is over (a durable timer: finish_at is in the table). */
export async function finishDueJobs(deps: ShellDeps): Promise<number> {
  const due = (await deps.pool.query("select saga_id from training_jobs where status = 'running' and finish_at <= now() order by finish_at limit 50")).rows as { saga_id: string }[];
  for (const { saga_id: sagaId } of due) {
    const published = await inTransaction(deps.pool, async (client) => {
      const view = await loadView(client, sagaId);
      const job = await jobOf(client, sagaId);
      if (!job) return [];
      const cause: Incoming = { type: 'TrainingStarted', payload: {}, metadata: { messageId: job.jobId, traceparent: `00-${job.jobId.replace(/-/g, '')}-${job.jobId.replace(/-/g, '').slice(0, 16)}-01` } };
      const { state, published } = await decideAndAct(client, trainingService, deps.writer, view, (s, facts, ctx) =>
        facts.job ? decideJobDue(s, facts.job, cause, ctx) : { commands: [], messages: [] },
      );
      await saveView(client, state);
      for (const m of published) deps.log.info({ sagaId, messageId: m.metadata.messageId, type: m.type, causationId: job.jobId, service: 'training-service' }, 'job finished');
      return published;
    });
    countPublished(deps.metrics, published);
  }
  return due.length;
}
