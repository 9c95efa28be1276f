/**
 * Replay: the event log read from the start, four ways over the same offsets —
 * a bare kafkajs consume (the baseline: fetching only), the log reader handing on records without
 * decoding them (its own fetching and parsing, which is not kafkajs's consumer), the log reader
 * decoding every message through the registry (what audit and export do), and every instance
 * folded again from it (what `replay --rebuild` does before comparing). The log is the training
 * example's saga topic.
 *
 * A pass over ~35,000 events takes well under a second, so one pass of each says more about what
 * ran just before it (the first pass of a process runs cold, before the JIT has compiled kafkajs)
 * than about the reader. Each run therefore makes one warm-up round of all of them, not counted,
 * then `rounds` rounds of all of them in turn, and reports each reader's median (with every sample).
 */
import { kafkaClient } from '../../core/clients.ts';
import { foldIntoSaga, type FoldedBySaga } from '../../audit/fold.ts';
import { readLog } from '../../audit/log-reader.ts';
import { historySources } from '../../audit/sources.ts';
import { config, uniqueName } from '../../test/support/fixtures.ts';
import { testProject } from '../../test/support/saga.ts';
import { now } from '../load.ts';
import { percentile, ratePerSecond } from '../stats.ts';
import { TimeoutError } from '../../core/errors.ts';

export interface ReplayRun {
  label: 'bare kafkajs consume' | 'log reader, records only' | 'decode through the registry' | 'rebuild saga state';
  events: number;
  /** The median of the counted rounds. */
  eventsPerSec: number;
  /** events/s of every counted round, in order. */
  samples: number[];
}

export interface ReplayResult {
  scenario: 'replay';
  /** Per partition, at most this many of the newest messages (null: the whole log). */
  lastPerPartition: number | null;
  /** Counted rounds (after one warm-up round). */
  rounds: number;
  runs: ReplayRun[];
}

type Ranges = { start: Map<string, bigint>; end: Map<string, bigint> };

/** The event logs replayed: the training example's saga topic. */
async function eventLogs(): Promise<string[]> {
  return [...historySources(await testProject()).sagas.keys()];
}

async function ranges(lastPerPartition: number | null): Promise<Ranges> {
  const admin = kafkaClient(config, uniqueName('bench-replay-admin')).admin();
  await admin.connect();
  try {
    const start = new Map<string, bigint>();
    const end = new Map<string, bigint>();
    for (const name of await eventLogs()) {
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
    for (const name of await eventLogs()) await consumer.subscribe({ topic: name, fromBeginning: true });
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

export async function measureReplay(lastPerPartition: number | null, timeoutMs: number, log: (line: string) => void = () => undefined, rounds = 5): Promise<ReplayResult> {
  const r = await ranges(lastPerPartition);
  const sources = historySources(await testProject());
  const topics = [...sources.sagas.keys()];
  const readers: [ReplayRun['label'], () => Promise<number>][] = [
    ['bare kafkajs consume', () => bareConsume(r, timeoutMs)],
    ['log reader, records only', async () => (await readLog(config, { topics, catalogue: sources.catalogue, startAt: r.start, upTo: r.end, timeoutMs, onRecord: () => undefined })).messages],
    ['decode through the registry', async () => (await readLog(config, { topics, catalogue: sources.catalogue, startAt: r.start, upTo: r.end, timeoutMs, onMessage: () => undefined })).messages],
    [
      'rebuild saga state',
      async () => {
        const instances: FoldedBySaga = new Map();
        const seen = new Set<string>();
        return (await readLog(config, { topics, catalogue: sources.catalogue, startAt: r.start, upTo: r.end, timeoutMs, onMessage: (m) => foldIntoSaga(sources.sagas.get(m.kafka.topic)!, instances, seen, m) })).messages;
      },
    ],
  ];
  const samples = new Map<ReplayRun['label'], { events: number; rates: number[] }>(readers.map(([label]) => [label, { events: 0, rates: [] }]));
  for (let round = 0; round <= rounds; round++) {
    for (const [label, read] of readers) {
      const t0 = now();
      const events = await read();
      const rate = ratePerSecond(events, now() - t0);
      const counted = round > 0;
      log(`replay: ${counted ? `round ${round}/${rounds}` : 'warm-up'}: ${label}: ${events} events, ${rate} events/s`);
      if (!counted) continue;
      const s = samples.get(label)!;
      s.events = events;
      s.rates.push(rate);
    }
  }
  const runs = readers.map(([label]) => {
    const { events, rates } = samples.get(label)!;
    return { label, events, eventsPerSec: percentile([...rates].sort((a, b) => a - b), 50) ?? 0, samples: rates };
  });
  return { scenario: 'replay', lastPerPartition, rounds, runs };
}
