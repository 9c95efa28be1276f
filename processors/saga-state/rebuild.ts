/**
 * Rebuilding the saga-state projection from the log: every saga topic read from offset zero up to
 * the end offsets seen at the start, folded into a fresh table with the same code as the live
 * projection, then compared with the live table saga by saga.
 */
import pg from 'pg';
import type { Config } from '../../core/config.ts';
import { readLog } from '../../audit/log-reader.ts';
import type { SagaState } from '../saga/state.ts';
import { foldMessage, isSagaMessage, LIVE_TABLE, projectionDdl } from './service.ts';

/** Rows per insert statement when writing a rebuilt projection. */
const REBUILD_BATCH = 1_000;

export interface RebuildResult {
  table: string;
  messages: number;
  skipped: number;
  elapsedMs: number;
}

/** Where the live projection stands: per "topic/partition", the next offset it will read. */
export async function liveOffsets(client: pg.Pool | pg.ClientBase): Promise<Map<string, bigint>> {
  const { rows } = await client.query("select topic, partition, next_offset::text from projection_offsets where projection = 'live'");
  return new Map(rows.map((r) => [`${r.topic}/${r.partition}`, BigInt(r.next_offset)]));
}

/**
 * Folds the log from offset zero into `table`: up to the current end of every partition, or, with
 * `upTo`, exactly up to the given positions (the live projection's, for a like-for-like comparison);
 * with `sagaId`, only that saga's messages.
 */
export async function rebuildProjection(
  config: Config,
  pool: pg.Pool,
  table: string,
  options: { timeoutMs?: number; startAt?: Map<string, bigint>; upTo?: Map<string, bigint>; sagaId?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<RebuildResult> {
  const t0 = Date.now();
  for (const statement of projectionDdl(table)) await pool.query(statement);
  // Event sourcing at its plainest: fold the log in memory with the projection's own pure step,
  // then write every saga's final state at once — not three statements and a commit per message,
  // as the live projection must. One state per saga is held in memory while reading.
  const states = new Map<string, SagaState>();
  const read = await readLog(config, {
    ...options,
    onMessage: (message) => {
      if (!isSagaMessage(message)) return;
      states.set(message.metadata.sagaId, foldMessage(states.get(message.metadata.sagaId), message));
    },
  });
  await writeStates(pool, table, [...states.values()]);
  return { table, messages: read.messages, skipped: read.poison, elapsedMs: Date.now() - t0 };
}

/** Inserts saga states into a projection table, a thousand rows per statement. */
async function writeStates(pool: pg.Pool, table: string, states: SagaState[]): Promise<void> {
  const t = pg.escapeIdentifier(table);
  for (let i = 0; i < states.length; i += REBUILD_BATCH) {
    const rows = states.slice(i, i + REBUILD_BATCH).map((s) => ({ saga_id: s.sagaId, status: s.status, tenant_id: s.tenantId, model_id: s.modelId, state: s }));
    await pool.query(
      `insert into ${t} (saga_id, status, tenant_id, model_id, state)
       select saga_id, status, tenant_id, model_id, state from jsonb_to_recordset($1::jsonb) as x(saga_id text, status text, tenant_id text, model_id text, state jsonb)`,
      [JSON.stringify(rows)],
    );
  }
}

export interface ProjectionDifference {
  sagaId: string;
  /** Dotted paths whose values differ, or "missing in <table>". */
  differences: string[];
}

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(`${path}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
}

/** Every saga whose state differs between two projections (pure: the states are given). */
export function compareStates(live: Map<string, SagaState>, rebuilt: Map<string, SagaState>, liveName = LIVE_TABLE, rebuiltName = 'rebuilt'): ProjectionDifference[] {
  const result: ProjectionDifference[] = [];
  for (const sagaId of new Set([...live.keys(), ...rebuilt.keys()])) {
    const differences: string[] = [];
    if (!live.has(sagaId)) differences.push(`missing in ${liveName}`);
    else if (!rebuilt.has(sagaId)) differences.push(`missing in ${rebuiltName}`);
    else diff(live.get(sagaId), rebuilt.get(sagaId), '', differences);
    if (differences.length) result.push({ sagaId, differences });
  }
  return result;
}

export async function loadStates(client: pg.Pool | pg.ClientBase, table: string, sagaIds?: string[]): Promise<Map<string, SagaState>> {
  const { rows } = await client.query(`select saga_id, state from ${pg.escapeIdentifier(table)} where ($1::text[] is null or saga_id = any($1))`, [sagaIds ?? null]);
  return new Map(rows.map((r) => [r.saga_id as string, r.state as SagaState]));
}

/** Every saga whose state differs between the two tables (restricted to `sagaIds` when given). */
export async function compareProjections(pool: pg.Pool, rebuilt: string, live = LIVE_TABLE, sagaIds?: string[]): Promise<ProjectionDifference[]> {
  const [a, b] = await Promise.all([loadStates(pool, live, sagaIds), loadStates(pool, rebuilt, sagaIds)]);
  return compareStates(a, b, live, rebuilt);
}
