/**
 * `sagaline outbox recover`: brings a connector whose replication slot was lost back to delivering,
 * and delivers every outbox row it stranded.
 *
 * A slot is lost when the server removed WAL it still needed (`max_slot_wal_keep_size`, e.g. with
 * Connect down over a weekend). Debezium cannot stream from it again, and the rows committed since
 * it last delivered are in no WAL any more: only the outbox table still has them. So, per connector:
 *
 * 1. ask Connect to stop the connector (it keeps its configuration), so nothing streams while we work;
 * 2. drop the lost slot and create it anew — from this point on the WAL is kept for it again. A
 *    Debezium task facing a lost slot does not fail: it waits inside its start for the slot to
 *    become valid (up to half an hour), and Connect cannot stop it meanwhile; the new slot lets
 *    that start finish, and the stop with it;
 * 3. once it has stopped, forget the connector's offsets, which point into WAL that is gone;
 * 4. re-send from the outbox table, in insertion order, every row written since shortly before the
 *    connector last delivered (its committed offset or last heartbeat, minus RESEND_MARGIN_MS),
 *    exactly as Debezium's router would have (same topic, key, headers and bytes: toKafkaRecord);
 * 5. resume the connector: it streams from the new slot, i.e. everything committed after step 2.
 *
 * Rows written between steps 2 and 4 are sent twice, and rows re-sent from the margin may already
 * be in Kafka: consumers drop a message id they have seen (their inbox), so each effect happens
 * once. A saga's rows are re-sent before anything newer of it streams (step 5 comes last), so its
 * order holds. Re-sending from the table rather than by an incremental snapshot keeps that order:
 * a snapshot reads in primary-key order (random uuids here), not in the order rows were written.
 */
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { kafkaClient } from '../core/clients.ts';
import { databaseUrlFor, type Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { ConnectClient } from './connect-client.ts';
import { HEARTBEAT_TABLE } from './connectors.ts';
import { gatherDeliveryFacts, provisionedConnectors } from './delivery-health.ts';
import { DEFAULT_OUTBOX_TABLE, HEADER_SELECT } from './outbox-table.ts';
import { groupByTopic, toKafkaRecord } from './polling-relay.ts';

/** Re-sending starts this long before the connector last delivered: a transaction may commit well after it wrote its row. */
export const RESEND_MARGIN_MS = 10 * 60_000;
const PAGE = 500;

export class RecoveryError extends SagalineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('RECOVERY_FAILED', message, options);
  }
}

export interface SlotRecovery {
  connector: string;
  database: string;
  slot: string;
  /** Rows written since this time were re-sent (ISO); null: the whole outbox. */
  resentSince: string | null;
  resent: number;
  /** Where the new slot starts: everything committed after it streams through the connector. */
  newSlotLsn: string;
  elapsedMs: number;
}

export interface RecoverOptions {
  /** Only this connector (by default every connector whose slot is lost). */
  connector?: string;
  /** Re-send rows written since then instead of the default boundary; 'all' re-sends the whole outbox. */
  since?: Date | 'all';
  log?: (line: string) => void;
}

/** When the connector last delivered, as far as its committed offset (commit time of the last event) and its heartbeat tell. */
async function lastDelivered(connect: ConnectClient, connector: string, client: pg.ClientBase): Promise<number | undefined> {
  const times: number[] = [];
  const offsets = await connect.offsets(connector).catch(() => []);
  for (const o of offsets) {
    const tsUsec = Number(o.offset.ts_usec);
    if (Number.isFinite(tsUsec) && tsUsec > 0) times.push(Math.floor(tsUsec / 1000));
  }
  const beat = await client.query<{ at: Date }>(`select beat_at as at from ${pg.escapeIdentifier(HEARTBEAT_TABLE)} where id = 1`).catch(() => ({ rows: [] as { at: Date }[] }));
  if (beat.rows[0]) times.push(beat.rows[0].at.getTime());
  return times.length ? Math.min(...times) : undefined;
}

async function recoverOne(config: Config, target: { name: string; database: string; slotName: string }, options: RecoverOptions): Promise<SlotRecovery> {
  const t0 = Date.now();
  const log = options.log ?? (() => undefined);
  const connect = new ConnectClient(config.connectUrls);
  const client = new pg.Client({ connectionString: databaseUrlFor(config, target.database) });
  client.on('error', () => undefined);
  await client.connect();
  const producer = kafkaClient(config, `sagaline-recover-${target.database}`).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  try {
    // One recovery of a slot at a time, wherever it is started from.
    const lock = `sagaline-recover:${target.slotName}`;
    if (!(await client.query('select pg_try_advisory_lock(hashtext($1)) as ok', [lock])).rows[0].ok) {
      throw new RecoveryError(`slot ${target.slotName} is being recovered by another process already`);
    }
    const delivered = options.since === undefined ? await lastDelivered(connect, target.name, client) : undefined;
    const since = options.since === 'all' ? null : options.since ?? (delivered === undefined ? null : new Date(delivered - RESEND_MARGIN_MS));

    log(`${target.name}: stopping the connector`);
    await connect.stop(target.name);
    // A slot still in use (recovering a connector whose slot is not lost) is released by the stop.
    await waitFor(
      `slot ${target.slotName} to be released by the stopping connector`,
      async () => (await client.query('select active from pg_replication_slots where slot_name = $1', [target.slotName])).rows[0]?.active !== true,
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    await client.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [target.slotName]);
    const created = await client.query<{ lsn: string }>("select lsn::text from pg_create_logical_replication_slot($1, 'pgoutput')", [target.slotName]);
    const newSlotLsn = created.rows[0]!.lsn;
    log(`${target.name}: slot ${target.slotName} created anew at ${newSlotLsn}`);
    // Connect waits up to task.shutdown.graceful.timeout.ms for a task that is stuck starting.
    await connect.waitStopped(target.name, 180_000);
    await connect.resetOffsets(target.name);

    await producer.connect();
    const t = pg.escapeIdentifier(DEFAULT_OUTBOX_TABLE);
    const columns = `${['id', 'aggregatetype', 'aggregateid', 'payload'].map((c) => pg.escapeIdentifier(c)).join(', ')}, ${HEADER_SELECT}`;
    let resent = 0;
    let afterSeq = '-1';
    for (;;) {
      const { rows } = await client.query<Parameters<typeof toKafkaRecord>[0] & { seq: string }>(
        `select ${columns}, seq::text as seq from ${t} where seq > $1 and ($2::timestamptz is null or occurred_at >= $2) order by seq limit ${PAGE}`,
        [afterSeq, since],
      );
      if (rows.length === 0) break;
      await producer.sendBatch({ acks: -1, topicMessages: groupByTopic(rows.map(toKafkaRecord)) });
      resent += rows.length;
      afterSeq = rows[rows.length - 1]!.seq;
    }
    log(`${target.name}: re-sent ${resent} outbox row(s) written ${since ? `since ${since.toISOString()}` : 'ever'}`);

    await connect.resume(target.name);
    await connect.waitRunning(target.name, 60_000);
    await waitFor(
      `slot ${target.slotName} to be streamed from again`,
      async () => (await client.query('select active from pg_replication_slots where slot_name = $1', [target.slotName])).rows[0]?.active === true,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    log(`${target.name}: delivering again`);
    return { connector: target.name, database: target.database, slot: target.slotName, resentSince: since ? since.toISOString() : null, resent, newSlotLsn, elapsedMs: Date.now() - t0 };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/** Recovers every connector whose slot is lost (or the one named); returns what was done for each. */
export async function recoverLostSlots(config: Config, options: RecoverOptions = {}): Promise<SlotRecovery[]> {
  const connectors = await provisionedConnectors(config);
  if (connectors.length === 0) throw new RecoveryError('no outbox connector is provisioned (SAGALINE_RELAY=polling has no slots)');
  if (options.connector && !connectors.some((c) => c.name === options.connector)) {
    throw new RecoveryError(`no provisioned connector ${options.connector}; known: ${connectors.map((c) => c.name).join(', ')}`);
  }
  const facts = await gatherDeliveryFacts(config);
  const lost = connectors.filter((c) => facts.find((f) => f.connector === c.name)?.slotFacts?.walStatus === 'lost');
  const targets = options.connector ? connectors.filter((c) => c.name === options.connector) : lost;
  const results: SlotRecovery[] = [];
  for (const target of targets) results.push(await recoverOne(config, target, options));
  return results;
}
