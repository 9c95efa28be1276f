/**
 * training-service decisions: start the training job (TRAIN), report it completed when its
 * simulated duration is over, cancel it as a compensation. Pure.
 */
import { nothing, reply, simulation, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';
import { compensationDue, type SagaState } from '../saga/state.ts';

export interface Job {
  jobId: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  /** When the simulated training ends; null: it never does (a hang). */
  finishAt: number | null;
}

export interface TrainingFacts {
  job: Job | null;
}

export type TrainingCommand =
  | { kind: 'start'; sagaId: string; jobId: string; finishAt: number | null }
  | { kind: 'finish'; jobId: string; status: 'completed' | 'failed' }
  | { kind: 'cancel'; jobId: string };

export function decide(state: SagaState, incoming: Incoming, facts: TrainingFacts, ctx: DecisionContext): Decision<TrainingCommand> {
  const d = nothing<TrainingCommand>();
  const sagaId = state.sagaId;
  const sim = simulation(state);

  if (state.status === 'InProgress' && state.steps.TRAIN.status === 'running' && !facts.job && state.request) {
    if (sim?.failAt === 'TRAIN' && sim.trainingDurationMs <= 0) {
      d.messages.push(reply(state, incoming, 'TrainingFailed', { sagaId, jobId: null, reason: 'simulated failure at TRAIN' }, ctx));
      return d;
    }
    // The job's id is the id of the message announcing it: what the job does later is caused by that message.
    const jobId = ctx.newId();
    const finishAt = sim?.hangAt === 'TRAIN' ? null : ctx.now + (sim?.trainingDurationMs ?? 1_000);
    d.commands.push({ kind: 'start', sagaId, jobId, finishAt });
    d.messages.push(reply(state, incoming, 'TrainingStarted', { sagaId, jobId, startedAt: ctx.now }, ctx, jobId));
    return d;
  }

  if (compensationDue(state) === 'TRAIN') {
    const job = facts.job;
    if (job && (job.status === 'running' || job.status === 'completed')) d.commands.push({ kind: 'cancel', jobId: job.jobId });
    const reason = job ? `job ${job.jobId} cancelled: ${state.reason}` : `no job was started: ${state.reason}`;
    d.messages.push(reply(state, incoming, 'TrainingCancelled', { sagaId, jobId: job?.jobId ?? null, reason }, ctx));
  }
  return d;
}

/** A running job whose time is up: completed (or failed, if the request says so), unless the saga moved on. */
export function decideJobDue(state: SagaState, job: Job, cause: Incoming, ctx: DecisionContext): Decision<TrainingCommand> {
  const d = nothing<TrainingCommand>();
  if (job.status !== 'running' || job.finishAt === null || job.finishAt > ctx.now) return d;
  // The saga is compensating: the job is cancelled by the compensation, never reported complete.
  if (state.status !== 'InProgress') return d;
  const sagaId = state.sagaId;
  if (simulation(state)?.failAt === 'TRAIN') {
    d.commands.push({ kind: 'finish', jobId: job.jobId, status: 'failed' });
    d.messages.push(reply(state, cause, 'TrainingFailed', { sagaId, jobId: job.jobId, reason: 'simulated failure at TRAIN' }, ctx));
    return d;
  }
  const request = state.request;
  d.commands.push({ kind: 'finish', jobId: job.jobId, status: 'completed' });
  d.messages.push(
    reply(state, cause, 'TrainingCompleted', {
      sagaId,
      jobId: job.jobId,
      artifacts: {
        modelBinaryUri: `s3://models/${state.modelId}/${job.jobId}/model.bin`,
        metadata: { algorithm: request?.config.algorithm ?? 'unknown', dataset: request?.config.datasetUri ?? '' },
        metrics: { accuracy: 0.9, validationSplit: request?.config.validationSplit ?? 0 },
      },
      completedAt: ctx.now,
    }, ctx),
  );
  return d;
}
