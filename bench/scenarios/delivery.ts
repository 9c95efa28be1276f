/**
 * The write path, measured three ways with the same writers, rows and transaction sizes:
 * - ceiling: plain inserts into an outbox-shaped table nobody reads — the physical limit;
 * - outbox → Kafka through Debezium, and through the polling relay: sustained throughput at
 *   saturation, and commit-to-consumer latency at fixed offered rates.
 */
import { kafkaClient } from '../../core/clients.ts';
import type { RelayMode } from '../../core/config.ts';
import { createOutboxTable } from '../../outbox-connector/outbox-table.ts';
import { EVENT_LOG_PARTITIONS, topicForAggregateType } from '../../topics/catalogue.ts';
import { config, createTestDatabase, startDelivery, uniqueName } from '../../test/support/fixtures.ts';
import { ArrivalRecorder, benchPayload, topicEnds, writeOutbox, type WriteLoad } from '../load.ts';
import { ratePerSecond, summarizeLatencies, type LatencySummary } from '../stats.ts';

/** Bench rows get their own aggregate type, so their topic is not one the saga processors read. */
export const BENCH_AGGREGATE_TYPE = 'bench';
export const BENCH_TOPIC = topicForAggregateType(BENCH_AGGREGATE_TYPE);

export interface DeliverySettings {
  txSize: number;
  writers: number;
  payloadBytes: number;
  /** Rows written flat out for the throughput figures. */
  saturationMessages: number;
  /** Offered rates (rows/s) for the latency figures, each held for `rateSeconds`. */
  rates: number[];
  rateSeconds: number;
  /** Longest wait for the last message of a run to arrive. */
  drainTimeoutMs: number;
}

export interface CeilingResult {
  scenario: 'ceiling';
  messages: number;
  txSize: number;
  writers: number;
  throughputPerSec: number;
}

export interface RateRun {
  /** Offered rate (rows/s); null at saturation. */
  offeredPerSec: number | null;
  /** What the writers actually committed per second. */
  committedPerSec: number;
  /** Rows that arrived per second, from the first transaction's start to the last arrival. */
  deliveredPerSec: number;
  messages: number;
  duplicates: number;
  latency: LatencySummary;
}

export interface DeliveryResult {
  scenario: 'delivery';
  label: string;
  mode: RelayMode;
  settings: DeliveryTuning;
  saturation: RateRun;
  rates: RateRun[];
}

export async function ensureBenchTopic(): Promise<void> {
  const admin = kafkaClient(config, uniqueName('bench-admin')).admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(BENCH_TOPIC)) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: BENCH_TOPIC, numPartitions: EVENT_LOG_PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: String(6 * 3600_000) }] }] });
    }
  } finally {
    await admin.disconnect();
  }
}

export async function measureCeiling(s: DeliverySettings): Promise<CeilingResult> {
  const db = await createTestDatabase('bench_ceiling');
  try {
    const client = await db.pool.connect();
    try {
      await createOutboxTable(client, 'outbox', [BENCH_AGGREGATE_TYPE]);
    } finally {
      client.release();
    }
    const run = await writeOutbox(db.pool, 'outbox', BENCH_AGGREGATE_TYPE, benchPayload(s.payloadBytes), { messages: s.saturationMessages, txSize: s.txSize, writers: s.writers });
    return { scenario: 'ceiling', messages: run.messages, txSize: s.txSize, writers: s.writers, throughputPerSec: ratePerSecond(run.messages, run.elapsedMs) };
  } finally {
    await db.drop();
  }
}

async function timedRun(db: { pool: import('pg').Pool }, s: DeliverySettings, load: WriteLoad): Promise<RateRun> {
  const kafka = kafkaClient(config, uniqueName('bench-consumer'));
  const recorder = new ArrivalRecorder(kafka, BENCH_TOPIC, uniqueName('bench-group'));
  await recorder.start(await topicEnds(kafka, BENCH_TOPIC));
  try {
    const written = await writeOutbox(db.pool, 'outbox', BENCH_AGGREGATE_TYPE, benchPayload(s.payloadBytes), load);
    await recorder.waitFor(written.committedAt.keys(), s.drainTimeoutMs);
    const latencies: number[] = [];
    let lastArrival = -Infinity;
    for (const [id, committed] of written.committedAt) {
      const arrived = recorder.arrivedAt.get(id) as number;
      latencies.push(arrived - committed);
      lastArrival = Math.max(lastArrival, arrived);
    }
    return {
      offeredPerSec: load.ratePerSec ?? null,
      committedPerSec: ratePerSecond(written.messages, written.elapsedMs),
      deliveredPerSec: ratePerSecond(written.messages, lastArrival - written.startedAt),
      messages: written.messages,
      duplicates: recorder.duplicates,
      latency: summarizeLatencies(latencies),
    };
  } finally {
    await recorder.stop();
  }
}

export interface DeliveryTuning {
  /** Debezium settings laid over the checked-in connector definition. */
  connector?: Record<string, string>;
  /** Polling relay: pause when the outbox is empty. */
  relayIdlePollMs?: number;
}

export async function measureDelivery(mode: RelayMode, label: string, s: DeliverySettings, tuning: DeliveryTuning = {}, log: (line: string) => void = () => undefined): Promise<DeliveryResult> {
  const db = await createTestDatabase(`bench_${mode}`);
  const delivery = await startDelivery(mode, db, [BENCH_AGGREGATE_TYPE], tuning);
  try {
    const rates: RateRun[] = [];
    for (const rate of s.rates) {
      const run = await timedRun(db, s, { messages: Math.round(rate * s.rateSeconds), txSize: s.txSize, writers: s.writers, ratePerSec: rate });
      log(`${label}: offered ${rate}/s → committed ${run.committedPerSec}/s, latency p50 ${run.latency.p50Ms} ms, p99 ${run.latency.p99Ms} ms`);
      rates.push(run);
    }
    const saturation = await timedRun(db, s, { messages: s.saturationMessages, txSize: s.txSize, writers: s.writers });
    log(`${label}: saturation ${saturation.deliveredPerSec}/s delivered (${saturation.committedPerSec}/s committed), latency p50 ${saturation.latency.p50Ms} ms`);
    return { scenario: 'delivery', label, mode, settings: tuning, saturation, rates };
  } finally {
    await delivery.stop();
    await db.drop();
  }
}
