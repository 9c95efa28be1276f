/**
 * Replay: the event log read from the start, three ways over the same offsets —
 * a bare kafkajs consume (the baseline: fetching only), the log reader decoding every message
 * through the registry (what audit and export do), and a rebuild of the saga-state projection
 * into a fresh table (what `replay --rebuild` does).
 */
import { kafkaClient, pgPool } from '../../core/clients.ts';
import { readLog } from '../../audit/log-reader.ts';
import { rebuildProjection } from '../../processors/saga-state/rebuild.ts';
import { EVENT_LOG_TOPICS } from '../../topics/catalogue.ts';
import { config, uniqueName } from '../../test/support/fixtures.ts';
import { now } from '../load.ts';
import { ratePerSecond } from '../stats.ts';
import { TimeoutError } from '../../core/errors.ts';

export interface ReplayRun {
  label: 'bare kafkajs consume' | 'decode through the registry' | 'rebuild saga state';
  events: number;
  eventsPerSec: number;
}

export interface ReplayResult {
  scenario: 'replay';
  /** Per partition, at most this many of the newest messages (null: the whole log). */
  lastPerPartition: number | null;
  runs: ReplayRun[];
}

type Ranges = { start: Map<string, bigint>; end: Map<string, bigint> };

async function ranges(lastPerPartition: number | null): Promise<Ranges> {
  const admin = kafkaClient(config, uniqueName('bench-replay-admin')).admin();
  await admin.connect();
  try {
    const start = new Map<string, bigint>();
    const end = new Map<string, bigint>();
    for (const { name } of EVENT_LOG_TOPICS) {
      for (const p of await admin.fetchTopicOffsets(name)) {
        const key = `${name}/${p.partition}`;
        const low = BigInt(p.low);
        const high = BigInt(p.high);
        end.set(key, high);
        start.set(key, lastPerPartition === null || high - low <= BigInt(lastPerPartition) ? low : high - BigInt(lastPerPartition));
      }
    }
    return { start, end };
  } finally {
    await admin.disconnect();
  }
}

async function bareConsume({ start, end }: Ranges, timeoutMs: number): Promise<number> {
  const kafka = kafkaClient(config, uniqueName('bench-bare'));
  const consumer = kafka.consumer({ groupId: uniqueName('bench-bare-group'), maxBytesPerPartition: 8 * 1024 * 1024 });
  const expected = [...end].reduce((sum, [k, e]) => sum + Number(e - (start.get(k) as bigint)), 0);
  let count = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  if (expected === 0) resolveDone();
  await consumer.connect();
  try {
    for (const { name } of EVENT_LOG_TOPICS) await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const key = `${batch.topic}/${batch.partition}`;
        const from = start.get(key) as bigint;
        const until = end.get(key) as bigint;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset >= from && offset < until) count++;
        }
        if (count >= expected) resolveDone();
      },
    });
    for (const [key, offset] of start) {
      const [topic, partition] = key.split('/') as [string, string];
      consumer.seek({ topic, partition: Number(partition), offset: offset.toString() });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`bare consume of ${expected} events (got ${count})`, timeoutMs)), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    return count;
  } finally {
    await consumer.disconnect();
  }
}

export async function measureReplay(lastPerPartition: number | null, timeoutMs: number, log: (line: string) => void = () => undefined): Promise<ReplayResult> {
  const r = await ranges(lastPerPartition);
  const runs: ReplayRun[] = [];
  const timed = async (label: ReplayRun['label'], work: () => Promise<number>) => {
    const t0 = now();
    const events = await work();
    const run = { label, events, eventsPerSec: ratePerSecond(events, now() - t0) };
    log(`replay: ${label}: ${events} events, ${run.eventsPerSec} events/s`);
    runs.push(run);
  };
  await timed('bare kafkajs consume', () => bareConsume(r, timeoutMs));
  await timed('decode through the registry', async () => (await readLog(config, { startAt: r.start, upTo: r.end, timeoutMs, onMessage: () => undefined })).messages);
  const pool = pgPool(config, 'sagaline', 4);
  const table = uniqueName('bench_rebuild');
  try {
    await timed('rebuild saga state', async () => (await rebuildProjection(config, pool, table, { startAt: r.start, upTo: r.end, timeoutMs })).messages);
  } finally {
    await pool.query(`drop table if exists ${table}`);
    await pool.end();
  }
  return { scenario: 'replay', lastPerPartition, runs };
}
