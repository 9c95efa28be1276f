/**
 * The API's `GET /metrics`: every processor's metrics (fetched from its own endpoint as JSON and
 * aggregated), merged with gauges the API computes at scrape time — sagas per state from the
 * projection, consumer lag per processor group and topic from Kafka, and whether each processor
 * answered. A source that cannot be read is left out of the scrape (and logged), never failing it.
 */
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { Config } from '../core/config.ts';
import { DELIVERY_STATES, type DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { INSTANCE_STATUSES, type InstanceStatus } from '../processors/saga/instance.ts';

export interface ProcessorProbe {
  name: string;
  url: string;
  healthy: boolean;
  detail?: string;
  /** Its registry's getMetricsAsJSON(), when it answered. */
  metrics?: object[];
}

/** Asks each processor's metrics endpoint; a processor is alive when it answers. */
export async function probeProcessors(processes: readonly { name: string; metricsPort: number }[], timeoutMs = 2_000): Promise<ProcessorProbe[]> {
  return Promise.all(
    processes.map(async ({ name, metricsPort }): Promise<ProcessorProbe> => {
      const url = `http://127.0.0.1:${metricsPort}/metrics.json`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        if (!res.ok) return { name, url, healthy: false, detail: `metrics endpoint answered ${res.status}` };
        return { name, url, healthy: true, metrics: (await res.json()) as object[] };
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        return { name, url, healthy: false, detail: cause === 'ECONNREFUSED' ? 'not running (metrics endpoint refused the connection)' : `metrics endpoint did not answer: ${(err as Error).message}` };
      }
    }),
  );
}

export type SagaCounts = Record<string, Record<InstanceStatus, number>>;

/** Count per saga and status, 0 for the statuses no instance of a saga is in. */
export function sagaCounts(sagaNames: readonly string[], rows: readonly { saga: string; status: string; count: number | string }[]): SagaCounts {
  const counts: SagaCounts = Object.fromEntries(sagaNames.map((name) => [name, Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, 0])) as Record<InstanceStatus, number>]));
  for (const row of rows) {
    const of = counts[row.saga];
    if (of && (INSTANCE_STATUSES as readonly string[]).includes(row.status)) of[row.status as InstanceStatus] += Number(row.count);
  }
  return counts;
}

/** From the monitor's projection in the engine's database. */
export async function fetchSagaCounts(pool: pg.Pool, sagaNames: readonly string[]): Promise<SagaCounts> {
  const { rows } = await pool.query('select saga, status, count(*)::int as count from saga_instances where saga = any($1) group by saga, status', [sagaNames]).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] }; // no projection yet: no sagas
    throw err;
  });
  return sagaCounts(sagaNames, rows as { saga: string; status: string; count: number }[]);
}

export interface PartitionEnds {
  partition: number;
  low: string;
  high: string;
}

/**
 * Messages a group has yet to read on one topic: end offset minus committed offset, summed over
 * partitions. A partition with no committed offset counts from where a new group starts reading.
 */
export function consumerLag(ends: readonly PartitionEnds[], committed: readonly { partition: number; offset: string }[], start: 'earliest' | 'latest'): number {
  let lag = 0n;
  for (const end of ends) {
    const high = BigInt(end.high);
    const offset = committed.find((c) => c.partition === end.partition)?.offset ?? '-1';
    const from = offset === '-1' ? (start === 'earliest' ? BigInt(end.low) : high) : BigInt(offset);
    if (high > from) lag += high - from;
  }
  return Number(lag);
}

export interface LagSample {
  group: string;
  topic: string;
  lag: number;
}

/** Lag of each group on the topics it reads. */
export async function fetchConsumerLag(config: Config, kafka: Kafka, groups: readonly { group: string; topics: readonly string[] }[]): Promise<LagSample[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, PartitionEnds[]>();
    for (const topic of new Set(groups.flatMap((g) => g.topics))) ends.set(topic, await admin.fetchTopicOffsets(topic));
    const samples: LagSample[] = [];
    for (const { group, topics } of groups) {
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group, topics: [...topics] })) {
        samples.push({ group, topic, lag: consumerLag(ends.get(topic) ?? [], partitions, config.saga.consumerStart) });
      }
    }
    return samples;
  } finally {
    await admin.disconnect();
  }
}

export interface ScrapeInput {
  processors: readonly Pick<ProcessorProbe, 'name' | 'healthy' | 'metrics'>[];
  /** Undefined when the projection could not be read. */
  sagas?: SagaCounts;
  /** Undefined when Kafka could not be asked. */
  lag?: readonly LagSample[];
  /** Undefined when delivery could not be inspected. */
  delivery?: readonly DeliveryStatus[];
}

/** One registry for the scrape: the processors' metrics aggregated, plus the API's gauges. */
export function scrapeRegistry(input: ScrapeInput): Registry {
  const own = new Registry();
  const up = new Gauge({ name: 'sagaline_processor_up', help: 'Whether the processor answered on its metrics endpoint (1) or not (0)', labelNames: ['service'], registers: [own] });
  for (const p of input.processors) up.set({ service: p.name }, p.healthy ? 1 : 0);
  if (input.sagas) {
    const sagas = new Gauge({ name: 'sagaline_sagas', help: "Saga instances per saga and status in the monitor's projection", labelNames: ['saga', 'status'], registers: [own] });
    for (const [saga, counts] of Object.entries(input.sagas)) for (const [status, count] of Object.entries(counts)) sagas.set({ saga, status }, count);
  }
  if (input.lag) {
    const lag = new Gauge({ name: 'sagaline_consumer_lag', help: "Messages a processor's consumer group has yet to read: end offsets minus committed offsets, summed over partitions", labelNames: ['group', 'topic'], registers: [own] });
    for (const s of input.lag) lag.set({ group: s.group, topic: s.topic }, s.lag);
  }
  if (input.delivery) {
    const labelNames = ['connector', 'slot'] as const;
    const delivering = new Gauge({ name: 'sagaline_delivery_healthy', help: 'Whether the outbox connector delivers (1) or is stalled, lost, at risk or down (0), whatever Kafka Connect reports', labelNames, registers: [own] });
    const state = new Gauge({ name: 'sagaline_delivery_state', help: 'The outbox connector is in this state (1): streaming, stalled, lost, at-risk or down', labelNames: [...labelNames, 'state'], registers: [own] });
    const slotLag = new Gauge({ name: 'sagaline_replication_slot_lag_bytes', help: 'WAL written since the position the connector last confirmed', labelNames, registers: [own] });
    const heartbeat = new Gauge({ name: 'sagaline_delivery_heartbeat_age_seconds', help: "Seconds since the connector's last heartbeat (a streaming connector beats every heartbeat.interval.ms)", labelNames, registers: [own] });
    const stranded = new Gauge({ name: 'sagaline_outbox_stranded_rows', help: 'Outbox rows written since a lost slot stopped delivering: not in Kafka until recovered', labelNames, registers: [own] });
    const now = Date.now();
    for (const d of input.delivery) {
      const labels = { connector: d.connector, slot: d.slot };
      delivering.set(labels, d.healthy ? 1 : 0);
      for (const s of DELIVERY_STATES) state.set({ ...labels, state: s }, d.state === s ? 1 : 0);
      if (d.position) slotLag.set(labels, d.position.lagBytes);
      if (d.lastHeartbeatAt) heartbeat.set(labels, Math.max(0, (now - Date.parse(d.lastHeartbeatAt)) / 1000));
      stranded.set(labels, d.strandedRows ?? 0);
    }
  }
  const answered = input.processors.flatMap((p) => (p.metrics ? [p.metrics] : []));
  return Registry.merge([AggregatorRegistry.aggregate(answered), own]);
}
