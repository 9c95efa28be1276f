/**
 * The whole choreography without infrastructure: every participant's pure decisions, wired by an
 * in-memory log that delivers each message to every participant (in a shuffled order per
 * participant where the test says so). Business effects are applied to in-memory tables, so the
 * end state of the "databases" can be checked like in the end-to-end tests.
 */
import { describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { MessageType, Step, TrainingRequested } from '../../schemas/generated.ts';
import * as audit from '../audit-service/decide.ts';
import * as model from '../model-service/decide.ts';
import * as resource from '../resource-service/decide.ts';
import * as watchdog from '../saga-state/decide.ts';
import * as training from '../training-service/decide.ts';
import type { DecisionContext, Incoming } from './decision.ts';
import { DEFAULT_DEADLINES_MS } from './definition.ts';
import { evolve, initialState, type SagaState } from './state.ts';

const POOL = { cpuCores: 64, memoryGb: 256, gpuCount: 8, storageGb: 1000 };

class World {
  now = 1_000_000;
  private seq = 0;
  log: OutgoingMessage[] = [];
  views = new Map<string, SagaState>();
  models = new Map<string, model.ModelRow & { updates: string[] }>([['m1', { modelId: 'm1', tenantId: 't1', version: 'v1', reservedBy: null, updates: [] }]]);
  allocations = new Map<string, resource.Capacity>();
  jobs = new Map<string, training.Job & { sagaId: string }>();
  auditLog: { sagaId: string; version: string; entry: audit.AuditEntryKind }[] = [];
  timers: (watchdog.Timer & { sagaId: string })[] = [];
  completed = new Set<string>();

  ctx = (): DecisionContext => ({ now: this.now, newId: () => `id-${++this.seq}` });

  view(who: string, sagaId: string): SagaState {
    return this.views.get(`${who}/${sagaId}`) ?? initialState(sagaId);
  }

  private fold(who: string, m: OutgoingMessage): SagaState {
    const next = evolve(this.view(who, m.metadata.sagaId), { type: m.type, payload: m.payload as never, messageId: m.metadata.messageId, at: this.now });
    this.views.set(`${who}/${m.metadata.sagaId}`, next);
    return next;
  }

  free(): resource.Capacity {
    const used = [...this.allocations.values()];
    const sum = (k: keyof resource.Capacity) => used.reduce((n, a) => n + a[k], 0);
    return { cpuCores: POOL.cpuCores - sum('cpuCores'), memoryGb: POOL.memoryGb - sum('memoryGb'), gpuCount: POOL.gpuCount - sum('gpuCount'), storageGb: POOL.storageGb - sum('storageGb') };
  }

  /** One participant handles one message: fold, decide (repeatedly, as the shell does), apply, emit. */
  private handle(who: string, m: OutgoingMessage): OutgoingMessage[] {
    let state = this.fold(who, m);
    const incoming: Incoming = { type: m.type, payload: m.payload, metadata: m.metadata };
    const out: OutgoingMessage[] = [];
    for (let round = 0; round < 10; round++) {
      const decision = this.decide(who, state, incoming);
      if (decision.length === 0) break;
      for (const reply of decision) {
        out.push(reply);
        state = this.fold(who, reply);
      }
    }
    return out;
  }

  private decide(who: string, state: SagaState, incoming: Incoming): OutgoingMessage[] {
    const ctx = this.ctx();
    switch (who) {
      case 'model': {
        const row = this.models.get(state.modelId ?? '') ?? null;
        const d = model.decide(state, incoming, { model: row }, ctx);
        for (const c of d.commands) {
          const r = this.models.get(c.modelId)!;
          if (c.kind === 'reserve') r.reservedBy = c.sagaId;
          if (c.kind === 'release' && r.reservedBy === c.sagaId) r.reservedBy = null;
          if (c.kind === 'update') { r.version = c.toVersion; r.updates.push(c.sagaId); }
          if (c.kind === 'revert') r.version = c.toVersion;
        }
        return d.messages;
      }
      case 'resource': {
        const d = resource.decide(state, incoming, { free: this.free() }, ctx);
        for (const c of d.commands) {
          if (c.kind === 'allocate') this.allocations.set(c.sagaId, c.resources);
          if (c.kind === 'release') this.allocations.delete(c.sagaId);
        }
        return d.messages;
      }
      case 'training': {
        const job = [...this.jobs.values()].find((j) => j.sagaId === state.sagaId) ?? null;
        const d = training.decide(state, incoming, { job }, ctx);
        this.applyTraining(d.commands);
        return d.messages;
      }
      case 'audit': {
        const entries = this.auditLog.filter((e) => e.sagaId === state.sagaId).map((e) => e.entry);
        const d = audit.decide(state, incoming, { entries }, ctx);
        for (const c of d.commands) this.auditLog.push({ sagaId: c.sagaId, version: c.version, entry: c.entry });
        return d.messages;
      }
      case 'watchdog': {
        const facts = { timers: this.timers.filter((t) => t.sagaId === state.sagaId), completed: this.completed.has(state.sagaId) };
        const d = watchdog.decide(state, incoming, facts, DEFAULT_DEADLINES_MS, ctx);
        this.applyWatchdog(d.commands);
        return d.messages;
      }
      default:
        throw new Error(who);
    }
  }

  private applyTraining(commands: training.TrainingCommand[]): void {
    for (const c of commands) {
      if (c.kind === 'start') this.jobs.set(c.jobId, { jobId: c.jobId, sagaId: c.sagaId, status: 'running', finishAt: c.finishAt });
      if (c.kind === 'finish') this.jobs.get(c.jobId)!.status = c.status;
      if (c.kind === 'cancel') this.jobs.get(c.jobId)!.status = 'cancelled';
    }
  }

  private applyWatchdog(commands: watchdog.WatchdogCommand[]): void {
    for (const c of commands) {
      const timer = this.timers.find((t) => t.sagaId === c.sagaId && 'step' in c && t.step === c.step);
      if (c.kind === 'schedule') this.timers.push({ sagaId: c.sagaId, step: c.step, dueAt: c.dueAt, status: 'pending' });
      if (c.kind === 'cancel' && timer) timer.status = 'cancelled';
      if (c.kind === 'fire' && timer) timer.status = 'fired';
      if (c.kind === 'complete') this.completed.add(c.sagaId);
    }
  }

  /** Delivers everything in the log to everyone until nothing new happens; then lets time pass (jobs, timers). */
  run(options: { advanceMs?: number; rounds?: number } = {}): void {
    const participants = ['model', 'resource', 'training', 'audit', 'watchdog'];
    const delivered = new Map(participants.map((p) => [p, 0]));
    for (let round = 0; round < (options.rounds ?? 50); round++) {
      let progressed = false;
      for (const p of participants) {
        while ((delivered.get(p) as number) < this.log.length) {
          const m = this.log[delivered.get(p) as number]!;
          delivered.set(p, (delivered.get(p) as number) + 1);
          this.log.push(...this.handle(p, m));
          progressed = true;
        }
      }
      if (progressed) continue;
      // Nothing left to deliver: time passes, due jobs finish and due timers fire.
      this.now += options.advanceMs ?? 2_000;
      const ctx = this.ctx();
      for (const job of this.jobs.values()) {
        const state = this.view('training', job.sagaId);
        const cause: Incoming = { type: 'TrainingStarted', payload: {}, metadata: { messageId: `tick-${this.now}`, traceparent: 't' } };
        const d = training.decideJobDue(state, job, cause, ctx);
        this.applyTraining(d.commands);
        this.log.push(...d.messages);
      }
      for (const timer of this.timers.filter((t) => t.status === 'pending')) {
        const state = this.view('watchdog', timer.sagaId);
        const facts = { timers: this.timers.filter((t) => t.sagaId === timer.sagaId), completed: this.completed.has(timer.sagaId) };
        const cause: Incoming = { type: 'StepTimedOut', payload: {}, metadata: { messageId: `tick-${this.now}`, traceparent: 't' } };
        const d = watchdog.decideTimer(state, timer, facts, cause, ctx);
        this.applyWatchdog(d.commands);
        this.log.push(...d.messages);
      }
    }
  }

  request(sagaId: string, simulation: { failAt?: Step; hangAt?: Step } = {}, resources = { cpuCores: 8, memoryGb: 32, gpuCount: 1, storageGb: 10 }): void {
    const payload: TrainingRequested = {
      sagaId, modelId: 'm1', tenantId: 't1',
      config: { algorithm: 'xgb', hyperparameters: {}, datasetUri: 's3://d', validationSplit: 0.2, simulation: { failAt: simulation.failAt ?? null, hangAt: simulation.hangAt ?? null, trainingDurationMs: 1_000, transientFailures: {} } },
      resources, requestedAt: this.now,
    };
    this.log.push({ type: 'TrainingRequested', payload, metadata: { messageId: `req-${sagaId}`, sagaId, tenantId: 't1', correlationId: sagaId, causationId: sagaId, traceparent: 't' } });
  }

  types(sagaId: string): MessageType[] {
    return this.log.filter((m) => m.metadata.sagaId === sagaId).map((m) => m.type);
  }
}

describe('the training saga, decisions only', () => {
  it('given a free model and pool, when training is requested, then every step runs and the saga completes', () => {
    const world = new World();
    world.request('s1');
    world.run();
    expect(world.view('watchdog', 's1').status).toBe('Completed');
    expect(world.types('s1')).toEqual([
      'TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted', 'TrainingCompleted', 'ModelUpdated', 'AuditLogged',
      'SagaCompleted', 'ModelReservationReleased', 'ResourcesReleased',
    ]);
    expect(world.models.get('m1')).toMatchObject({ version: 'v2', reservedBy: null });
    expect(world.allocations.size).toBe(0);
    expect(world.auditLog).toEqual([{ sagaId: 's1', version: 'v2', entry: 'completed' }]);
    // Every participant's own view agrees with the watchdog's
    for (const who of ['model', 'resource', 'training', 'audit']) expect(world.view(who, 's1').status, who).toBe('Completed');
  });

  it.each([
    ['RESERVE', ['TrainingRequested', 'ModelReservationFailed']],
    ['ALLOCATE', ['TrainingRequested', 'ModelReserved', 'ResourceAllocationFailed', 'ModelReservationReleased']],
    ['TRAIN', ['TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted', 'TrainingFailed', 'ResourcesReleased', 'ModelReservationReleased']],
    ['UPDATE', ['TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted', 'TrainingCompleted', 'ModelUpdateFailed', 'TrainingCancelled', 'ResourcesReleased', 'ModelReservationReleased']],
    ['AUDIT', ['TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted', 'TrainingCompleted', 'ModelUpdated', 'AuditFailed', 'ModelUpdateReverted', 'TrainingCancelled', 'ResourcesReleased', 'ModelReservationReleased']],
  ] as [Step, MessageType[]][])('given a failure at %s, then earlier steps are compensated in reverse order', (step, expected) => {
    const world = new World();
    world.request('s1', { failAt: step });
    world.run();
    expect(world.types('s1')).toEqual(expected);
    const state = world.view('watchdog', 's1');
    expect(state.status).toBe('Compensated');
    expect(state.failedStep).toBe(step);
    expect(world.models.get('m1')).toMatchObject({ version: 'v1', reservedBy: null });
    expect(world.allocations.size).toBe(0);
    expect([...world.jobs.values()].every((j) => j.status !== 'running' && j.status !== 'completed')).toBe(true);
    expect(world.auditLog).toEqual([]);
  });

  it.each(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'] as Step[])('given a hang at %s, when its deadline passes, then the saga compensates', (step) => {
    const world = new World();
    world.request('s1', { hangAt: step });
    // Time passes in steps shorter than every deadline but TRAIN's (an hour).
    world.run(step === 'TRAIN' ? { advanceMs: 3_700_000 } : { advanceMs: 1_000, rounds: 200 });
    const state = world.view('watchdog', 's1');
    expect(state.status).toBe('Compensated');
    expect(state.failedStep).toBe(step);
    expect(state.steps[step].status).toBe(step === 'AUDIT' ? 'timed_out' : 'compensated');
    expect(world.types('s1')).toContain('StepTimedOut');
    expect(world.models.get('m1')).toMatchObject({ version: 'v1', reservedBy: null });
    expect(world.allocations.size).toBe(0);
    expect(world.auditLog).toEqual([]);
  });

  it('given a model already reserved by another saga, then the second request fails at RESERVE and changes nothing', () => {
    const world = new World();
    world.request('s1', { hangAt: 'TRAIN' });
    world.run({ rounds: 5, advanceMs: 1 });
    world.request('s2');
    world.run({ rounds: 5, advanceMs: 1 });
    expect(world.view('watchdog', 's2').status).toBe('Compensated');
    expect(world.view('watchdog', 's2').reason).toMatch(/already reserved by saga s1/);
    expect(world.models.get('m1')!.reservedBy).toBe('s1');
  });

  it('given a request larger than the free pool, then allocation fails naming what is short', () => {
    const world = new World();
    world.request('s1', {}, { cpuCores: 8, memoryGb: 32, gpuCount: 9, storageGb: 10 });
    world.run();
    expect(world.view('watchdog', 's1').reason).toBe('ALLOCATE failed: not enough free compute: gpuCount 9 > 8 free');
  });
});
