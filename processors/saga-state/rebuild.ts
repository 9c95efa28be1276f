/**
 * Rebuilding the saga-state projection from the log: every saga topic read from offset zero up to
 * the end offsets seen at the start, folded into a fresh table with the same code as the live
 * projection, then compared with the live table saga by saga.
 */
import pg from 'pg';
import { kafkaClient, registryClient } from '../../core/clients.ts';
import type { Config } from '../../core/config.ts';
import { PoisonMessageError, TimeoutError } from '../../core/errors.ts';
import { EVENT_LOG_TOPICS } from '../../topics/catalogue.ts';
import { decodeMessage } from '../runtime/decode.ts';
import { inTransaction } from '../runtime/participant.ts';
import type { SagaState } from '../saga/state.ts';
import { LIVE_TABLE, project, projectionDdl } from './service.ts';

export interface RebuildResult {
  table: string;
  messages: number;
  skipped: number;
  elapsedMs: number;
}

/** Where the live projection stands: per "topic/partition", the next offset it will read. */
export async function liveOffsets(pool: pg.Pool): Promise<Map<string, bigint>> {
  const { rows } = await pool.query("select topic, partition, next_offset::text from projection_offsets where projection = 'live'");
  return new Map(rows.map((r) => [`${r.topic}/${r.partition}`, BigInt(r.next_offset)]));
}

/**
 * Folds the log from offset zero into `table`: up to the current end of every partition, or, with
 * `upTo`, exactly up to the given positions (the live projection's, for a like-for-like comparison).
 */
export async function rebuildProjection(
  config: Config,
  pool: pg.Pool,
  table: string,
  options: { timeoutMs?: number; upTo?: Map<string, bigint>; onProgress?: (done: number, total: number) => void } = {},
): Promise<RebuildResult> {
  const t0 = Date.now();
  for (const statement of projectionDdl(table)) await pool.query(statement);
  const kafka = kafkaClient(config, `sagaline-rebuild-${table}`);
  const registry = registryClient(config);
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, bigint>(); // "topic/partition" → end offset still to reach
  let total = 0n;
  try {
    for (const { name } of EVENT_LOG_TOPICS) {
      for (const p of await admin.fetchTopicOffsets(name)) {
        const key = `${name}/${p.partition}`;
        const end = options.upTo ? (options.upTo.get(key) ?? 0n) : BigInt(p.high);
        const start = BigInt(p.low);
        if (end > start) {
          remaining.set(key, end);
          total += end - start;
        }
      }
    }
  } finally {
    await admin.disconnect();
  }
  let messages = 0;
  let skipped = 0;
  if (remaining.size === 0) return { table, messages, skipped, elapsedMs: Date.now() - t0 };

  const consumer = kafka.consumer({ groupId: `sagaline-rebuild-${table}-${Date.now()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => { resolveDone = resolve; rejectDone = reject; });
  try {
    for (const { name } of EVENT_LOG_TOPICS) await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const key = `${topic}/${partition}`;
        const end = remaining.get(key);
        if (end === undefined || BigInt(message.offset) >= end) return;
        try {
          const decoded = await decodeMessage(registry, topic, partition, message);
          await inTransaction(pool, (client) => project(client, table, decoded));
          messages += 1;
        } catch (err) {
          if (!(err instanceof PoisonMessageError)) return rejectDone(err);
          skipped += 1;
        }
        if (BigInt(message.offset) + 1n >= end) remaining.delete(key);
        options.onProgress?.(messages + skipped, Number(total));
        if (remaining.size === 0) resolveDone();
      },
    });
    const timeoutMs = options.timeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`rebuilding ${table} from the log`, timeoutMs)), timeoutMs)))]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return { table, messages, skipped, elapsedMs: Date.now() - t0 };
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

/** Every saga whose state differs between the two tables (restricted to `sagaIds` when given). */
export async function compareProjections(pool: pg.Pool, rebuilt: string, live = LIVE_TABLE, sagaIds?: string[]): Promise<ProjectionDifference[]> {
  const load = async (table: string) =>
    new Map(
      (await pool.query(`select saga_id, state from ${pg.escapeIdentifier(table)} where ($1::text[] is null or saga_id = any($1))`, [sagaIds ?? null])).rows.map((r) => [r.saga_id as string, r.state as SagaState]),
    );
  const [a, b] = await Promise.all([load(live), load(rebuilt)]);
  const result: ProjectionDifference[] = [];
  for (const sagaId of new Set([...a.keys(), ...b.keys()])) {
    const differences: string[] = [];
    if (!a.has(sagaId)) differences.push(`missing in ${live}`);
    else if (!b.has(sagaId)) differences.push(`missing in ${rebuilt}`);
    else diff(a.get(sagaId), b.get(sagaId), '', differences);
    if (differences.length) result.push({ sagaId, differences });
  }
  return result;
}
