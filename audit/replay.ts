/**
 * Replaying history: re-reads the event log (all of it, one saga, or a time range), optionally
 * folding it into a fresh saga-state table to compare with the live projection, and optionally
 * writing a hash-chained export of every message read.
 *
 * A rebuild reads exactly what the live projection has read (its stored offsets), so the comparison
 * is like for like; if the live projection moves on meanwhile, the rebuild follows it to the new
 * offsets before comparing, from one consistent snapshot of the live table and its offsets.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { kafkaClient, pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { compareStates, liveOffsets, loadStates, type ProjectionDifference } from '../processors/saga-state/rebuild.ts';
import { DATABASE, LIVE_TABLE, project, projectionDdl } from '../processors/saga-state/service.ts';
import { inTransaction } from '../processors/runtime/participant.ts';
import { EVENT_LOG_TOPICS } from '../topics/catalogue.ts';
import { ExportWriter, type ExportedMessage } from './export.ts';
import { readLog } from './log-reader.ts';

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
    table: string;
    kept: boolean;
    sagasCompared: number;
    differences: ProjectionDifference[];
    /** Messages in the log the live projection had not read yet when compared. */
    liveBehindLog: number;
  };
  export?: { path: string; messages: number; lastHash: string };
}

/** An ISO 8601 time (`2026-11-22T10:00:00Z`, `2026-11-22`) or milliseconds since the epoch. */
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

async function logEnds(config: Config): Promise<Map<string, bigint>> {
  const admin = kafkaClient(config, 'sagaline-replay').admin();
  await admin.connect();
  try {
    const ends = new Map<string, bigint>();
    for (const { name } of EVENT_LOG_TOPICS) for (const p of await admin.fetchTopicOffsets(name)) ends.set(`${name}/${p.partition}`, BigInt(p.high));
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/** The live projection's offsets and states, read in one snapshot (they commit together). */
async function liveSnapshot(pool: pg.Pool, sagaIds?: string[]) {
  return inTransaction(pool, async (client) => {
    await client.query('set transaction isolation level repeatable read');
    return { offsets: await liveOffsets(client), states: await loadStates(client, LIVE_TABLE, sagaIds) };
  });
}

export async function replay(config: Config, options: ReplayOptions): Promise<ReplayReport> {
  checkReplayOptions(options);
  const log = createLogger(config, 'replay');
  const t0 = Date.now();
  const writer = options.exportPath
    ? await ExportWriter.open(options.exportPath, {
        ...(options.sagaId ? { sagaId: options.sagaId } : {}),
        ...(options.fromMs !== undefined ? { from: new Date(options.fromMs).toISOString() } : {}),
        ...(options.toMs !== undefined ? { to: new Date(options.toMs).toISOString() } : {}),
        ...(options.rebuild ? { upTo: 'the live projection offsets' } : {}),
      })
    : undefined;
  const pool = options.rebuild ? pgPool(config, DATABASE, 4) : undefined;
  const table = `saga_state_replay_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const byType: Record<string, number> = {};
  const sagas = new Set<string>();
  let events = 0;
  let undecodable = 0;
  let rebuild: ReplayReport['rebuild'];
  const onMessage = async (m: DecodedMessage) => {
    byType[m.type] = (byType[m.type] ?? 0) + 1;
    sagas.add(m.metadata.sagaId);
    if (pool) await inTransaction(pool, (client) => project(client, table, m));
    await writer?.write(exported(m));
  };
  const read = async (range: { startAt?: Map<string, bigint>; upTo?: Map<string, bigint> }) => {
    const result = await readLog(config, {
      ...range,
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
      await read({});
    } else {
      for (const statement of projectionDdl(table)) await pool.query(statement);
      const sagaIds = options.sagaId ? [options.sagaId] : undefined;
      let readUpTo = await liveOffsets(pool).catch((err: { code?: string }) => {
        if (err.code === '42P01') return new Map<string, bigint>(); // saga-state has never run here
        throw err;
      });
      await read({ upTo: readUpTo });
      for (let round = 0; ; round++) {
        const live = await liveSnapshot(pool, sagaIds);
        log.debug({ round, live: Object.fromEntries([...live.offsets].map(([k, v]) => [k, String(v)])) }, 'live projection snapshot');
        if (sameOffsets(live.offsets, readUpTo)) {
          const ends = await logEnds(config);
          const differences = compareStates(live.states, await loadStates(pool, table, sagaIds), LIVE_TABLE, table);
          const liveBehindLog = Number([...ends].reduce((sum, [key, end]) => sum + (end - (live.offsets.get(key) ?? 0n)), 0n));
          rebuild = { table, kept: options.keepTable ?? false, sagasCompared: new Set([...live.states.keys(), ...sagas]).size, differences, liveBehindLog };
          break;
        }
        if (round >= 20) throw new SagalineError('REPLAY_UNSETTLED', 'the live projection kept moving during 20 catch-up rounds; run the rebuild when the pipeline is quieter');
        await read({ startAt: readUpTo, upTo: live.offsets });
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
    if (pool) {
      if (!options.keepTable) await pool.query(`drop table if exists ${pg.escapeIdentifier(table)}`).catch(() => undefined);
      await pool.end();
    }
  }
}
