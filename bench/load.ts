/**
 * The two ends of every delivery benchmark: writers committing outbox-sized rows in transactions
 * of a fixed size (as fast as they can, or paced to an offered rate), and a consumer recording
 * when each row's message arrives. Both run in this process, so commit and arrival times come
 * from one clock.
 */
import { performance } from 'node:perf_hooks';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { newId } from '../core/ids.ts';
import { TimeoutError } from '../core/errors.ts';
import { insertOutboxRow } from '../outbox-connector/outbox-table.ts';

/** Milliseconds since the epoch, with sub-millisecond resolution. */
export const now = (): number => performance.timeOrigin + performance.now();

export interface WriteLoad {
  /** Rows in all. */
  messages: number;
  /** Rows per transaction. */
  txSize: number;
  /** Concurrent writer connections. */
  writers: number;
  /** Offered rate in rows/s; none: as fast as the writers can commit. */
  ratePerSec?: number;
}

export interface WriteResult {
  messages: number;
  /** When the first transaction started (epoch ms). */
  startedAt: number;
  /** First transaction's start to last commit. */
  elapsedMs: number;
  /** Row id → when its transaction's COMMIT returned. */
  committedAt: Map<string, number>;
}

/** Bench payload: `bytes` of pseudo-random data, about the size of an encoded saga message. */
export function benchPayload(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 131 + 7) % 251;
  return b;
}

/**
 * Commits `load.messages` rows into `table` of `pool`'s database, `txSize` per transaction, on
 * `writers` connections. With a rate, transaction k starts no earlier than k·txSize/rate seconds
 * after the first: the offered load, not what the database happens to accept.
 */
export async function writeOutbox(pool: pg.Pool, table: string, aggregateType: string, payload: Buffer, load: WriteLoad): Promise<WriteResult> {
  const transactions = Math.ceil(load.messages / load.txSize);
  const committedAt = new Map<string, number>();
  let next = 0;
  const t0 = now();
  const writer = async () => {
    const client = await pool.connect();
    try {
      for (;;) {
        const k = next++;
        if (k >= transactions) return;
        if (load.ratePerSec) {
          const due = t0 + ((k * load.txSize) / load.ratePerSec) * 1000;
          const wait = due - now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        const rows = Math.min(load.txSize, load.messages - k * load.txSize);
        const ids: string[] = [];
        await client.query('begin');
        for (let i = 0; i < rows; i++) {
          const id = newId();
          ids.push(id);
          await insertOutboxRow(client, { id, aggregateType, aggregateId: `bench-${k % 997}`, type: 'BenchEvent', payload }, table);
        }
        await client.query('commit');
        const at = now();
        for (const id of ids) committedAt.set(id, at);
      }
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: load.writers }, writer));
  return { messages: committedAt.size, startedAt: t0, elapsedMs: now() - t0, committedAt };
}

/** Per partition, the next offset to be written. */
export async function topicEnds(kafka: Kafka, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * A consumer of one topic from given offsets on, recording each message's arrival by its `id`
 * header. `start` resolves once the group has joined and its positions are set, so what is
 * committed afterwards is timed from the moment it is written.
 */
export class ArrivalRecorder {
  readonly arrivedAt = new Map<string, number>();
  duplicates = 0;
  private readonly consumer;
  private waiter: { want: Set<string>; resolve: () => void } | undefined;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    groupId: string,
  ) {
    // Fetch as soon as one byte is there: a benchmark of latency must not wait to fill a batch.
    this.consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, minBytes: 1, maxBytesPerPartition: 4 * 1024 * 1024 });
  }

  async start(from: Map<number, string>): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: false });
    const joined = new Promise<void>((resolve) => this.consumer.on(this.consumer.events.GROUP_JOIN, () => resolve()));
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const at = now();
        for (const message of batch.messages) {
          const id = message.headers?.id?.toString();
          if (id === undefined) continue;
          if (this.arrivedAt.has(id)) this.duplicates++;
          else this.arrivedAt.set(id, at);
        }
        this.check();
      },
    });
    for (const [partition, offset] of from) this.consumer.seek({ topic: this.topic, partition, offset });
    await joined;
  }

  private check(): void {
    if (this.waiter && [...this.waiter.want].every((id) => this.arrivedAt.has(id))) this.waiter.resolve();
  }

  /** Resolves once every id has arrived; fails naming how many are missing at the deadline. */
  async waitFor(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const want = new Set(ids);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.waiter = { want, resolve };
          this.check();
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const missing = [...want].filter((id) => !this.arrivedAt.has(id)).length;
            reject(new TimeoutError(`${missing} of ${want.size} messages to arrive on ${this.topic}`, timeoutMs));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
