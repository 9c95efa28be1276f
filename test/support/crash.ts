/**
 * Crash recovery scenario: while N sagas run concurrently, processors are killed with SIGKILL one
 * at a time (no shutdown, as a crash) and restarted. Every saga must reach a terminal state and
 * the business tables must agree with the outcomes: no effect lost, none applied twice.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { pgPool } from '../../core/clients.ts';
import { waitFor } from '../../core/wait.ts';
import type { ProcessorName } from '../../processors/index.ts';
import { compareProjections, liveOffsets, rebuildProjection } from '../../processors/saga-state/rebuild.ts';
import { killProcessor, processorsStatus, processorsUp } from '../../processors/supervisor.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../../schemas/contracts.ts';
import type { Step } from '../../schemas/generated.ts';
import { config, uniqueName } from './fixtures.ts';
import { PROCESSOR_ENV, trainNewModel, processorConfig, query, startProcessors, stopProcessors, waitForConsumerGroups, waitForNoLag, waitForTerminal } from './saga.ts';

export function crashScenario(SAGAS: number, killed: readonly ProcessorName[]): void {
// Deadlines well beyond a restart's stall (a killed member's partitions move on after the session
// timeout): the sagas must survive the crashes, not just time out and compensate.
const CRASH_ENV = Object.fromEntries(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((s) => [`SAGALINE_DEADLINE_${s}_MS`, '90000']));
const FAILURES: (Step | undefined)[] = [undefined, undefined, undefined, 'ALLOCATE', undefined, 'UPDATE', undefined, 'AUDIT', undefined, 'TRAIN'];

describe('crash recovery', () => {
  beforeAll(async () => {
    await startProcessors(CRASH_ENV);
  });

  afterAll(async () => {
    await stopProcessors();
  });

  it(`every one of ${SAGAS} sagas reaches a terminal state with consistent business tables when ${killed.join(', ')} are SIGKILLed mid-run`, async () => {
    // Given the sagas started at once, one model each, some made to fail at various steps
    const tenant = uniqueName('crash');
    const writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
    const sagas: { sagaId: string; modelId: string }[] = [];
    for (let i = 0; i < SAGAS; i++) {
      const failAt = FAILURES[i % FAILURES.length];
      // Small jobs, so all 100 fit in the compute pool at once (a full pool is a business failure, not a crash effect).
      const resources = { cpuCores: 0, memoryGb: 1, gpuCount: 0, storageGb: 1 };
      sagas.push(await trainNewModel(tenant, { trainingDurationMs: 1_000, config: { resources }, ...(failAt ? { failAt } : {}) }, writer));
    }
    const ids = sagas.map((s) => s.sagaId);

    // When each processor in turn is killed with SIGKILL mid-run, then restarted
    for (const name of killed) {
      const pid = killProcessor(processorConfig, name);
      expect(pid, `${name} was running`).toBeDefined();
      await waitFor(`${name} to be gone`, () => !processorsStatus(processorConfig).find((p) => p.name === name)!.running, { timeoutMs: 10_000 });
      processorsUp(processorConfig, { ...process.env, ...PROCESSOR_ENV, ...CRASH_ENV });
      await waitForConsumerGroups(); // one fault at a time: the next kill comes once it has rejoined
    }

    // Then every saga ends Completed or Compensated
    const outcomes = await waitForTerminal(ids, 300_000);
    const byState = new Map<string, number>();
    for (const s of outcomes.values()) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
    expect([...byState.keys()].every((s) => s === 'Completed' || s === 'Compensated'), JSON.stringify([...byState])).toBe(true);
    const meantToFail = sagas.filter((_, i) => FAILURES[i % FAILURES.length] !== undefined).map((s) => s.sagaId);
    expect(meantToFail.filter((id) => outcomes.get(id)!.state !== 'Compensated'), 'every saga made to fail compensated').toEqual([]);
    // A saga stalled past a deadline by a crash compensates (a legitimate, consistent outcome), but
    // most must come through: the test cannot pass by timing everything out.
    expect(byState.get('Completed') ?? 0, 'most other sagas completed despite the crashes').toBeGreaterThanOrEqual((SAGAS - meantToFail.length) / 2);
    await waitForNoLag(120_000);

    // And the business tables agree with each outcome — nothing held, nothing done twice
    const models = await query<{ model_id: string; version: string; reserved_by: string | null }>('model_service', 'select model_id, version, reserved_by from models where tenant_id = $1', [tenant]);
    const versions = await query<{ model_id: string; n: number }>('model_service', 'select model_id, count(*)::int n from model_versions where model_id = any($1) group by 1', [sagas.map((s) => s.modelId)]);
    const held = await query('model_service', "select saga_id from reservations where saga_id = any($1) and status = 'held'", [ids]);
    const allocations = await query('resource_service', "select saga_id from allocations where saga_id = any($1) and status = 'held'", [ids]);
    const jobs = await query('training_service', "select saga_id from training_jobs where saga_id = any($1) and status = 'running'", [ids]);
    const audits = await query<{ saga_id: string; entry: string }>('audit_service', 'select saga_id, entry from audit_log where saga_id = any($1)', [ids]);
    expect(held).toEqual([]);
    expect(allocations).toEqual([]);
    expect(jobs).toEqual([]);
    expect(models.filter((m) => m.reserved_by !== null)).toEqual([]);
    for (const { sagaId, modelId } of sagas) {
      const completed = outcomes.get(sagaId)!.state === 'Completed';
      expect(models.find((m) => m.model_id === modelId)?.version, `${sagaId} model`).toBe(completed ? 'v2' : 'v1');
      // Completed: one entry. Compensated: none — or, if the audit answered after its deadline, its entry and the reversal.
      const entries = audits.filter((a) => a.saga_id === sagaId).map((a) => a.entry).sort();
      expect([completed ? ['completed'] : [], ...(completed ? [] : [['completed', 'reverted']])], `${sagaId} audit entries`).toContainEqual(entries);
    }
    expect(versions.every((v) => v.n === 1), 'no model updated twice').toBe(true);

    // And the projection rebuilt from the log equals the live one
    const pool = pgPool(config, 'sagaline', 2);
    try {
      const table = uniqueName('crash_rebuild');
      await stopProcessors(); // freeze the live projection, then fold the log up to where it stands
      await rebuildProjection(config, pool, table, { upTo: await liveOffsets(pool) });
      const differences = await compareProjections(pool, table, 'saga_state', ids);
      expect(differences, JSON.stringify(differences).slice(0, 2000)).toEqual([]);
      await pool.query(`drop table ${table}`);
    } finally {
      await pool.end();
    }
  }, 600_000);
});
}
