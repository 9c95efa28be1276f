/**
 * Replaying history: re-reads a project's event logs (all of it, one saga, or a time range),
 * optionally folding its sagas' logs into fresh instance states to compare with the monitor's live
 * projection, and optionally writing a hash-chained export of every message read.
 *
 * A rebuild reads exactly what the live projection has read (its stored offsets), so the comparison
 * is like for like; if the live projection moves on meanwhile, the rebuild follows it to the new
 * offsets before comparing, from one consistent snapshot of the live table and its offsets. It
 * compares each instance's status, version and state (the fold of its messages); the row's
 * bookkeeping columns (updated_at, next_deadline) are not part of it.
 */
import pg from 'pg';
import { kafkaClient, pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import type { Project } from '../processors/engine/project.ts';
import { inTransaction } from '../processors/engine/tables.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { ExportWriter, type ExportedMessage } from './export.ts';
import { byId, compareStates, foldIntoSaga, type FoldedBySaga, type StateDifference } from './fold.ts';
import { readLog } from './log-reader.ts';
import { historySources } from './sources.ts';

export class ReplayOptionError extends SagalineError {
  constructor(message: string) {
    super('REQUEST_INVALID', message);
  }
}

export interface ReplayOptions {
  sagaId?: string;
  fromMs?: number;
  toMs?: number;
  rebuild?: boolean;
  /** Keep the rebuilt table for inspection (dropped after the comparison otherwise). */
  keepTable?: boolean;
  exportPath?: string;
  timeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ReplayReport {
  events: number;
  /** Records that never decode (they sit on dead-letter topics too). */
  undecodable: number;
  sagas: number;
  elapsedMs: number;
  eventsPerSecond: number;
  byType: Record<string, number>;
  rebuild?: {
    /** Where the rebuilt instances were kept (--keep-table), else null. */
    table: string | null;
    sagasCompared: number;
    differences: StateDifference[];
    /** Messages in the log the live projection had not read yet when compared. */
    liveBehindLog: number;
  };
  export?: { path: string; messages: number; lastHash: string };
}

export function parseTime(option: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ReplayOptionError(`${option} must be an ISO 8601 time (e.g. 2026-11-22T10:00:00Z) or milliseconds since the epoch, got "${value}"`);
  return ms;
}

export function checkReplayOptions(options: ReplayOptions): void {
  if (options.fromMs !== undefined && options.toMs !== undefined && options.fromMs > options.toMs) {
    throw new ReplayOptionError(`--from (${new Date(options.fromMs).toISOString()}) is after --to (${new Date(options.toMs).toISOString()})`);
  }
  if (options.rebuild && (options.fromMs !== undefined || options.toMs !== undefined)) {
    throw new ReplayOptionError('--rebuild folds whole sagas from the start of the log; it cannot be combined with --from or --to');
  }
}

export function exported(m: DecodedMessage): ExportedMessage {
  return {
    topic: m.kafka.topic,
    partition: m.kafka.partition,
    offset: m.kafka.offset,
    timestamp: new Date(m.kafka.timestamp).toISOString(),
    key: m.kafka.key,
    type: m.type,
    messageId: m.metadata.messageId,
    sagaId: m.metadata.sagaId,
    causationId: m.metadata.causationId,
    correlationId: m.metadata.correlationId,
    tenantId: m.metadata.tenantId,
    traceparent: m.metadata.traceparent,
    payload: m.payload,
  };
}

const sameOffsets = (a: Map<string, bigint>, b: Map<string, bigint>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

async function logEnds(config: Config, topics: readonly string[]): Promise<Map<string, bigint>> {
  const admin = kafkaClient(config, 'sagaline-replay').admin();
  await admin.connect();
  try {
    const ends = new Map<string, bigint>();
    for (const name of topics) for (const p of await admin.fetchTopicOffsets(name)) ends.set(`${name}/${p.partition}`, BigInt(p.high));
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/** What the live projection compares: an instance's status, version and state. */
const comparable = (status: string, version: number | undefined, state: unknown) => ({ status, version, state });

/** The live projection's offsets on the project's topics and its instances of the project's sagas, read in one snapshot (they commit together). */
async function liveSnapshot(pool: pg.Pool, topics: readonly string[], sagaNames: readonly string[], sagaId?: string) {
  return inTransaction(pool, async (client) => {
    await client.query('set transaction isolation level repeatable read');
    const offsets = new Map<string, bigint>();
    for (const r of (await client.query<{ topic: string; partition: number; next_offset: string }>('select topic, partition, next_offset from saga_projection_offsets where topic = any($1)', [topics])).rows) {
      offsets.set(`${r.topic}/${r.partition}`, BigInt(r.next_offset));
    }
    const rows = (await client.query<{ saga_id: string; status: string; version: number; state: unknown }>('select saga_id, status, version, state from saga_instances where saga = any($1) and ($2::text is null or saga_id = $2)', [sagaNames, sagaId ?? null])).rows;
    return { offsets, states: new Map(rows.map((r) => [r.saga_id, comparable(r.status, r.version, r.state)])) };
  });
}

export async function replay(config: Config, project: Project, options: ReplayOptions): Promise<ReplayReport> {
  checkReplayOptions(options);
  const log = createLogger(config, 'replay');
  const sources = historySources(project);
  const sagaTopics = [...sources.sagas.keys()];
  const t0 = Date.now();
  const writer = options.exportPath
    ? await ExportWriter.open(options.exportPath, {
        ...(options.sagaId ? { sagaId: options.sagaId } : {}),
        ...(options.fromMs !== undefined ? { from: new Date(options.fromMs).toISOString() } : {}),
        ...(options.toMs !== undefined ? { to: new Date(options.toMs).toISOString() } : {}),
        ...(options.rebuild ? { upTo: 'the live projection offsets' } : {}),
      })
    : undefined;
  const pool = options.rebuild ? pgPool(config, SAGAS_DATABASE, 2) : undefined;
  const byType: Record<string, number> = {};
  const sagas = new Set<string>();
  const rebuilt: FoldedBySaga = new Map();
  const seen = new Set<string>();
  let events = 0;
  let undecodable = 0;
  let rebuild: ReplayReport['rebuild'];
  const onMessage = (m: DecodedMessage) => {
    byType[m.type] = (byType[m.type] ?? 0) + 1;
    sagas.add(m.metadata.sagaId);
    const versions = sources.sagas.get(m.kafka.topic);
    if (pool && versions) foldIntoSaga(versions, rebuilt, seen, m);
    return writer?.write(exported(m));
  };
  const read = async (range: { topics: readonly string[]; startAt?: Map<string, bigint>; upTo?: Map<string, bigint> }) => {
    const result = await readLog(config, {
      ...range,
      catalogue: sources.catalogue,
      ...(options.sagaId !== undefined ? { sagaId: options.sagaId } : {}),
      ...(options.fromMs !== undefined ? { fromMs: options.fromMs } : {}),
      ...(options.toMs !== undefined ? { toMs: options.toMs } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      onMessage,
    });
    events += result.messages;
    undecodable += result.poison;
  };
  try {
    if (!pool) {
      await read({ topics: sources.topics });
    } else {
      const names = [...new Set(project.sagas.map((s) => s.name))];
      const snapshot = () =>
        liveSnapshot(pool, sagaTopics, names, options.sagaId).catch((err: { code?: string }) => {
          if (err.code === '42P01') return { offsets: new Map<string, bigint>(), states: new Map() }; // the monitor has never run here
          throw err;
        });
      let readUpTo = (await snapshot()).offsets;
      await read({ topics: sagaTopics, upTo: readUpTo });
      for (let round = 0; ; round++) {
        const live = await snapshot();
        log.debug({ round, live: Object.fromEntries([...live.offsets].map(([k, v]) => [k, String(v)])) }, 'live projection snapshot');
        if (sameOffsets(live.offsets, readUpTo)) {
          const ends = await logEnds(config, sagaTopics);
          const { instances, shared } = byId(rebuilt);
          const folded = new Map([...instances].filter(([, f]) => f.state).map(([id, f]) => [id, comparable(f.state!.status, f.version, f.state)]));
          const reported = new Set(shared.map((d) => d.sagaId));
          const liveCompared = new Map([...live.states].filter(([id]) => !reported.has(id)));
          const differences = await namingOtherSagas(pool, names, [...compareStates(liveCompared, folded, 'the live projection', 'the rebuild'), ...shared].sort((a, b) => a.sagaId.localeCompare(b.sagaId)));
          const liveBehindLog = Number([...ends].reduce((sum, [key, end]) => sum + (end - (live.offsets.get(key) ?? 0n)), 0n));
          const table = options.keepTable ? await keep(pool, rebuilt) : null;
          rebuild = { table, sagasCompared: new Set([...live.states.keys(), ...folded.keys(), ...reported]).size, differences, liveBehindLog };
          break;
        }
        if (round >= 20) throw new SagalineError('REPLAY_UNSETTLED', 'the live projection kept moving during 20 catch-up rounds; run the rebuild when the pipeline is quieter');
        await read({ topics: sagaTopics, startAt: readUpTo, upTo: live.offsets });
        readUpTo = live.offsets;
      }
    }
    const written = await writer?.close();
    const elapsedMs = Date.now() - t0;
    return {
      events,
      undecodable,
      sagas: sagas.size,
      elapsedMs,
      eventsPerSecond: Math.round(events / Math.max(elapsedMs / 1000, 0.001)),
      byType,
      ...(rebuild ? { rebuild } : {}),
      ...(written ? { export: written } : {}),
    };
  } catch (err) {
    await writer?.abort();
    throw err;
  } finally {
    await pool?.end();
  }
}

const MISSING_IN_LIVE = 'missing in the live projection';

/** An instance "missing in the live projection" that the projection holds as another saga's instance: said so, naming it. */
async function namingOtherSagas(pool: pg.Pool, sagaNames: readonly string[], differences: StateDifference[]): Promise<StateDifference[]> {
  const missing = differences.filter((d) => d.differences.length === 1 && d.differences[0] === MISSING_IN_LIVE).map((d) => d.sagaId);
  if (missing.length === 0) return differences;
  const { rows } = await pool.query<{ saga_id: string; saga: string }>('select saga_id, saga from saga_instances where saga_id = any($1) and saga <> all($2)', [missing, sagaNames]);
  const heldBy = new Map(rows.map((r) => [r.saga_id, r.saga]));
  return differences.map((d) => (heldBy.has(d.sagaId) && d.differences[0] === MISSING_IN_LIVE ? { sagaId: d.sagaId, differences: [`the live projection holds this id as an instance of ${heldBy.get(d.sagaId)} (a saga id must be unique across sagas)`] } : d));
}

/** Writes the rebuilt instances to a table of their own beside the live one, for inspection. */
async function keep(pool: pg.Pool, rebuilt: FoldedBySaga): Promise<string> {
  const table = `saga_instances_replay_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const t = pg.escapeIdentifier(table);
  await pool.query(`create table ${t} (saga_id text not null, saga text not null, version int not null, status text not null, state jsonb not null, primary key (saga, saga_id))`);
  const rows = [...rebuilt.values()].flatMap((instances) => [...instances].filter(([, f]) => f.state).map(([id, f]) => ({ saga_id: id, saga: f.state!.saga, version: f.state!.version, status: f.state!.status, state: f.state })));
  for (let i = 0; i < rows.length; i += 500) {
    await pool.query(`insert into ${t} select * from jsonb_to_recordset($1::jsonb) as x(saga_id text, saga text, version int, status text, state jsonb)`, [JSON.stringify(rows.slice(i, i + 500))]);
  }
  return table;
}
