/**
 * The polling relay: the second way outbox rows reach Kafka, for databases where logical
 * replication is not allowed. It produces exactly what the Debezium path produces — same topic
 * (`sagaline.<aggregatetype>`), key (aggregateid), headers (id + HEADER_COLUMNS) and payload bytes.
 *
 * - One relay works a database at a time (a session advisory lock); a second one waits as standby,
 *   so a saga's rows are never sent by two relays out of order.
 * - A batch is claimed with FOR UPDATE SKIP LOCKED in insertion order, sent with an idempotent
 *   producer (acks from all in-sync replicas, one request in flight: no reordering on retry), and
 *   deleted only after the broker acknowledged it, in the same transaction that claimed it.
 *   A crash between the ack and the commit re-sends the batch: at-least-once, and consumers
 *   deduplicate on the `id` header.
 */
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import pg from 'pg';
import type { Logger } from 'pino';
import { topicForAggregateType } from '../topics/catalogue.ts';
import { DEFAULT_OUTBOX_TABLE, HEADER_COLUMNS, HEADER_SELECT, headerValue } from './outbox-table.ts';

export interface PollingRelayOptions {
  /** Label for logs and the advisory lock (one relay per database). */
  name: string;
  databaseUrl: string;
  batchSize: number;
  idlePollMs: number;
  table?: string;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

interface OutboxRecord {
  id: string;
  aggregatetype: string;
  aggregateid: string;
  payload: Buffer;
  [column: string]: unknown;
}

/** The Kafka record of an outbox row, exactly as Debezium's EventRouter would build it. */
export function toKafkaRecord(row: OutboxRecord): { topic: string; message: Message } {
  const headers: Record<string, string> = { id: row.id };
  for (const [column, header] of HEADER_COLUMNS) headers[header] = headerValue(column, row[column]);
  return { topic: topicForAggregateType(row.aggregatetype), message: { key: row.aggregateid, value: row.payload, headers } };
}

/** Groups records by topic, keeping their order (kafkajs sendBatch takes one entry per topic). */
export function groupByTopic(records: { topic: string; message: Message }[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push(r.message);
    byTopic.set(r.topic, list);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

export class PollingRelay {
  private readonly table: string;
  private readonly producer: Producer;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Rows sent and acknowledged since start. */
  relayed = 0;

  constructor(
    kafka: Kafka,
    private readonly options: PollingRelayOptions,
  ) {
    this.table = options.table ?? DEFAULT_OUTBOX_TABLE;
    // The default partitioner is murmur2, as in the Java client Debezium uses: same key, same partition.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async start(): Promise<void> {
    await this.producer.connect();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.producer.disconnect();
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      const client = new pg.Client({ connectionString: this.options.databaseUrl });
      try {
        await client.connect();
        // Leadership: the lock is held for the session; it is released if this process dies.
        const lockKey = `sagaline-relay:${this.table}`;
        while (this.running && !(await client.query('select pg_try_advisory_lock(hashtext($1)) as ok', [lockKey])).rows[0].ok) {
          await this.pause(1_000);
        }
        while (this.running) {
          const sent = await this.relayBatch(client);
          if (sent === 0) await this.pause(this.options.idlePollMs);
        }
      } catch (err) {
        this.options.log?.warn({ err, relay: this.options.name }, 'polling relay failed; retrying');
        await this.pause(1_000);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /** Claims, sends and deletes one batch; returns how many rows it relayed. */
  async relayBatch(client: pg.ClientBase): Promise<number> {
    const t = pg.escapeIdentifier(this.table);
    await client.query('begin');
    try {
      const { rows } = await client.query<OutboxRecord>(
        `select id, aggregatetype, aggregateid, payload, ${HEADER_SELECT}
           from ${t} order by seq limit $1 for update skip locked`,
        [this.options.batchSize],
      );
      if (rows.length === 0) {
        await client.query('commit');
        return 0;
      }
      await this.producer.sendBatch({ acks: -1, topicMessages: groupByTopic(rows.map(toKafkaRecord)) });
      await client.query(`delete from ${t} where id = any($1::uuid[])`, [rows.map((r) => r.id)]);
      await client.query('commit');
      this.relayed += rows.length;
      return rows.length;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }
}
