/**
 * Reading history back, through the real CLI against the real stack: `audit` of a compensated saga,
 * `replay` (one saga, a time range, a rebuild compared with the live projection), a hash-chained
 * export checked by `verify-export` before and after editing it by hand, and `tail`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgPool } from '../core/clients.ts';
import { PROJECT_ROOT } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { getSaga } from '../processors/saga-state/queries.ts';
import type { SagaState } from '../processors/saga/state.ts';
import { sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { processorConfig, query, startProcessors, stopProcessors, trainNewModel, waitForTerminal } from './support/saga.ts';
import { PROCESSOR_NAMES } from '../processors/index.ts';
import { processorLog } from '../processors/supervisor.ts';

const tenant = uniqueName('tenant');
const dir = mkdtempSync(join(tmpdir(), 'sagaline-history-'));
let compensated: string;
let completed: string;
let startedAt: number;

interface AuditJson {
  sagaId: string;
  events: { at: string; topic: string; partition: number; offset: string; type: string; service: string; messageId: string; causationId: string; payload: Record<string, unknown> }[];
  state: { state: string; reason: string | null };
}

async function json<T>(args: string[]): Promise<T> {
  const result = await sagaline(args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('history from the event log', () => {
  beforeAll(async () => {
    await startProcessors();
    // Given a saga that fails at TRAIN and one that completes
    startedAt = Date.now();
    compensated = (await trainNewModel(tenant, { failAt: 'TRAIN', trainingDurationMs: 300 })).sagaId;
    completed = (await trainNewModel(tenant, { trainingDurationMs: 300 })).sagaId;
    await waitForTerminal([compensated, completed]);
  });

  afterAll(async () => {
    await stopProcessors();
  });

  it('audit of a compensated saga shows the forward steps, the failure and the compensations, in order', async () => {
    const timeline = await json<AuditJson>(['audit', compensated, '--json']);
    const types = timeline.events.map((e) => e.type);
    // Forward steps first, then the failure, then the compensations in reverse order of the steps
    expect(types.slice(0, 4)).toEqual(['TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted']);
    const failure = types.indexOf('TrainingFailed');
    expect(failure).toBeGreaterThan(3);
    const released = types.indexOf('ResourcesReleased');
    const unreserved = types.indexOf('ModelReservationReleased');
    expect(released).toBeGreaterThan(failure);
    expect(unreserved).toBeGreaterThan(released);
    expect(timeline.state).toMatchObject({ state: 'Compensated', reason: expect.stringContaining('TRAIN failed') });
    // Every message sits where the log has it, with who emitted it and what caused it
    for (const e of timeline.events) {
      expect(e.topic).toMatch(/^sagaline\./);
      expect(Number(e.offset)).toBeGreaterThanOrEqual(0);
      expect(e.payload.sagaId).toBe(compensated);
    }
    expect(timeline.events.find((e) => e.type === 'TrainingFailed')).toMatchObject({ service: 'training-service' });
    expect(timeline.events.find((e) => e.type === 'ModelReservationReleased')).toMatchObject({ service: 'model-service' });
    const ids = new Set(timeline.events.map((e) => e.messageId));
    for (const e of timeline.events.slice(1)) expect(ids.has(e.causationId), `${e.type} is caused by a message of the saga`).toBe(true);
    // And it is the whole history: exactly the messages the live projection folded in
    const live = (await query<{ state: SagaState }>('sagaline', 'select state from saga_state where saga_id = $1', [compensated]))[0]!.state;
    expect([...ids].sort()).toEqual([...live.processed].sort());
  });

  it('audit prints a readable timeline, and names an unknown saga', async () => {
    const text = await sagaline(['audit', compensated]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('TrainingFailed');
    expect(text.stdout).toContain('state derived from these messages: Compensated');
    const unknown = await sagaline(['audit', 'no-such-saga']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no message of saga no-such-saga in the event log');
  });

  it('replays one saga, and a time range that excludes it', async () => {
    const audit = await json<AuditJson>(['audit', completed, '--json']);
    const report = await json<{ events: number; sagas: number; byType: Record<string, number> }>(['replay', '--saga', completed, '--json']);
    expect(report.events).toBe(audit.events.length);
    expect(report.sagas).toBe(1);
    expect(report.byType.SagaCompleted).toBe(1);
    const inRange = await json<{ events: number }>(['replay', '--saga', completed, '--from', new Date(startedAt - 1_000).toISOString(), '--to', new Date().toISOString(), '--json']);
    expect(inRange.events).toBe(audit.events.length);
    const before = await json<{ events: number }>(['replay', '--saga', completed, '--to', String(startedAt - 60_000), '--json']);
    expect(before.events).toBe(0);
  });

  it('rebuilds the projection and finds no difference with the live one', async () => {
    for (const sagaId of [compensated, completed]) {
      const result = await sagaline(['replay', '--saga', sagaId, '--rebuild', '--json'], { LOG_LEVEL: 'debug' }, 90_000); // a stall shows where, in the failure message
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as { rebuild: { sagasCompared: number; differences: unknown[]; kept: boolean; table: string } };
      expect(report.rebuild.sagasCompared).toBe(1);
      expect(report.rebuild.differences).toEqual([]);
      // The rebuilt table is dropped unless --keep-table
      expect(await query('sagaline', 'select 1 from pg_tables where tablename = $1', [report.rebuild.table])).toEqual([]);
    }
  });

  it('reports a difference when the live projection disagrees with the log', async () => {
    // Given the live state of a saga edited behind the projection's back
    const pool = pgPool(config, 'sagaline', 1);
    const before = await getSaga(pool, completed);
    await pool.query(`update saga_state set state = jsonb_set(state, '{reason}', '"edited"') where saga_id = $1`, [completed]);
    try {
      // When the rebuild compares it
      const result = await sagaline(['replay', '--saga', completed, '--rebuild', '--json']);
      // Then it names the saga and the field, and exits non-zero
      expect(result.code).toBe(1);
      const report = JSON.parse(result.stdout) as { rebuild: { differences: { sagaId: string; differences: string[] }[] } };
      expect(report.rebuild.differences).toEqual([{ sagaId: completed, differences: ['reason: "edited" ≠ null'] }]);
    } finally {
      await pool.query(`update saga_state set state = jsonb_set(state, '{reason}', 'null') where saga_id = $1`, [completed]);
      expect((await getSaga(pool, completed)).reason).toBe(before.reason);
      await pool.end();
    }
  });

  it('exports a hash-chained file that verify-export accepts, and rejects once edited by hand', async () => {
    const file = join(dir, 'compensated.ndjson');
    const report = await json<{ events: number; export: { path: string; messages: number } }>(['replay', '--saga', compensated, '--export', file, '--json']);
    expect(report.export.messages).toBe(report.events);
    const ok = await sagaline(['verify-export', file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${report.events} messages`);

    // When one payload value is changed by hand (line 4 = the third message)
    const lines = readFileSync(file, 'utf8').split('\n');
    const edited = join(dir, 'edited.ndjson');
    writeFileSync(edited, [...lines.slice(0, 3), lines[3]!.replace(/"sagaId":"[^"]+"/, '"sagaId":"someone-else"'), ...lines.slice(4)].join('\n'));
    const bad = await sagaline(['verify-export', edited]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('line 4');

    // And an export never overwrites an existing file
    const again = await sagaline(['replay', '--saga', compensated, '--export', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe(lines.join('\n'));
  });

  it('refuses bad options before reading anything', async () => {
    const cases: [string[], string][] = [
      [['replay', '--from', 'yesterday-ish'], '--from must be an ISO 8601 time'],
      [['replay', '--from', '2026-11-22T10:00:00Z', '--to', '2026-11-21T10:00:00Z'], 'is after --to'],
      [['replay', '--rebuild', '--from', '2026-11-22T10:00:00Z'], 'cannot be combined with --from or --to'],
      [['tail', 'no-such-topic'], '"no-such-topic" is not an event-log topic'],
    ];
    for (const [args, message] of cases) {
      const result = await sagaline(args);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain(message);
    }
    expect(existsSync(join(dir, 'never.ndjson'))).toBe(false);
  });

  it('logs JSON lines that name the saga, the message and the service', () => {
    const lines = PROCESSOR_NAMES.flatMap((name) => readFileSync(processorLog(processorConfig, name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    const aboutMessages = lines.filter((l) => l.messageId !== undefined);
    // Every processor handled the compensated saga's messages, and each such line carries all three
    const handled = aboutMessages.filter((l) => l.sagaId === compensated);
    expect(new Set(handled.map((l) => l.service))).toEqual(new Set(PROCESSOR_NAMES));
    for (const line of aboutMessages) {
      expect(line, JSON.stringify(line)).toMatchObject({ sagaId: expect.any(String), messageId: expect.any(String), service: expect.any(String) });
    }
  });

  it('tail prints messages as they arrive', async () => {
    // Given `tail` running on the request topic
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'tail', 'training-requests', '--json'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor('tail to start', () => stderr.includes('tailing sagaline.training-requests'), { timeoutMs: 60_000 });
      // When a saga starts
      const { sagaId } = await trainNewModel(tenant, { trainingDurationMs: 300 });
      // Then its request appears, decoded
      const line = await waitFor(`tail to print the request of ${sagaId}`, () => stdout.split('\n').find((l) => l.includes(sagaId)), { timeoutMs: 60_000 });
      expect(JSON.parse(line)).toMatchObject({ type: 'TrainingRequested', sagaId, service: 'requester', topic: 'sagaline.training-requests', payload: { sagaId } });
      await waitForTerminal([sagaId]);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
