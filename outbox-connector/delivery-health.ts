/**
 * Whether each outbox connector really delivers — not only whether Kafka Connect calls it RUNNING.
 *
 * Connect reports a Debezium task RUNNING while it loops on a retriable error (a replication slot
 * held by another connection, a slot that was invalidated), so its status alone says nothing. What
 * does: every `heartbeat.interval.ms` (10 s) a streaming Debezium task sends a heartbeat record to
 * its heartbeat topic, through Connect, to Kafka — whether or not the outbox has rows. No heartbeat
 * record in the last `stallAfterMs` means nothing gets from this connector to Kafka. The other
 * facts say why: the replication slot (active, held by which connection since when, invalidated or
 * not, lag), and the connector's database heartbeat — its `heartbeat.action.query` stamps
 * `sagaline_heartbeat.beat_at` whenever a Debezium streaming loop runs, even one whose records go
 * nowhere (a task Connect abandoned, still holding the slot).
 *
 * `judgeDelivery` is the pure verdict over those facts; `inspectDelivery` gathers them.
 */
import { logLevel, type Kafka } from 'kafkajs';
import pg from 'pg';
import { kafkaClient } from '../core/clients.ts';
import { databaseUrlFor, type Config } from '../core/config.ts';
import { heartbeatTopicFor } from '../topics/catalogue.ts';
import { ConnectClient, type ConnectorStatus } from './connect-client.ts';
import { HEARTBEAT_TABLE } from './connectors.ts';
import { registeredSources } from './sources-registry.ts';
import { DEFAULT_OUTBOX_TABLE } from './outbox-table.ts';

/** The command that recovers an invalidated slot (named in every verdict that needs it). */
export const RECOVER_COMMAND = 'npx sagaline outbox recover';

export interface SlotFacts {
  active: boolean;
  activePid: number | null;
  /** reserved | extended | unreserved | lost (pg_replication_slots.wal_status). */
  walStatus: string | null;
  confirmedFlushLsn: string | null;
  /** WAL written since the position the connector last confirmed (bytes). */
  lagBytes: number;
  /** WAL the server keeps for this slot (bytes). */
  retainedBytes: number;
}

export interface WalSenderFacts {
  pid: number;
  /** pg_stat_replication.state: startup, catchup, streaming, … */
  state: string;
  /** When its connection was opened (ms since epoch). */
  since: number;
}

export interface DeliveryFacts {
  /** When the facts were gathered (ms since epoch). */
  observedAt: number;
  connector: string;
  database: string;
  slot: string;
  /** Connect's status of the connector; 'unreachable' when Connect did not answer, 'unregistered' when it has no such connector. */
  connect: Pick<ConnectorStatus, 'connector' | 'tasks'> | 'unreachable' | 'unregistered';
  /** Undefined when the slot does not exist. */
  slotFacts: SlotFacts | undefined;
  /** Walsenders connected to the source database. */
  walsenders: WalSenderFacts[];
  /** The connector's last database heartbeat (ms since epoch) and its age on the server's clock; null when it never beat. */
  heartbeat: { at: number; ageMs: number } | null;
  /** Heartbeat records that reached Kafka in the last `windowMs`; 'unreachable' when Kafka did not answer. */
  delivered: { windowMs: number; records: number } | 'unreachable';
  /** Outbox rows written since the last heartbeat: gathered only for an invalidated slot. */
  rowsSinceHeartbeat?: number;
}

export const DELIVERY_STATES = ['streaming', 'stalled', 'lost', 'at-risk', 'down'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface DeliveryStatus {
  connector: string;
  database: string;
  slot: string;
  healthy: boolean;
  state: DeliveryState;
  /** Why it is not healthy (one line), or what is worth knowing. */
  detail?: string;
  /** Connector and task states as Connect reports them, e.g. "RUNNING/RUNNING". */
  task: string;
  /** Where the slot stands; null when it does not exist. */
  position: { active: boolean; activePid: number | null; walStatus: string | null; confirmedFlushLsn: string | null; lagBytes: number; retainedBytes: number } | null;
  /** The connector's last database heartbeat (ISO time), null if none yet. */
  lastHeartbeatAt: string | null;
  /** Since when it has not delivered (ISO time), when stalled or lost. */
  since?: string;
  /** Lost slot: outbox rows written since delivery stopped (not in Kafka until recovered). */
  strandedRows?: number;
  /** Stalled with the slot held this long by one connection: its pid (the delivery guard ends it). */
  staleHolderPid?: number;
}

export interface DeliveryThresholds {
  /** No heartbeat record in Kafka for this long means the connector does not deliver. */
  stallAfterMs: number;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const iso = (ms: number) => new Date(ms).toISOString();

function taskSummary(connect: DeliveryFacts['connect']): string {
  if (connect === 'unreachable') return 'unknown (Connect unreachable)';
  if (connect === 'unregistered') return 'not registered';
  return `${connect.connector.state}/${connect.tasks.map((t) => t.state).join(',') || 'no task'}`;
}

/** The verdict on one connector's delivery. Pure. */
export function judgeDelivery(facts: DeliveryFacts, thresholds: DeliveryThresholds): DeliveryStatus {
  const { slotFacts: slot, heartbeat } = facts;
  const base = {
    connector: facts.connector,
    database: facts.database,
    slot: facts.slot,
    task: taskSummary(facts.connect),
    position: slot ? { ...slot } : null,
    lastHeartbeatAt: heartbeat ? iso(heartbeat.at) : null,
  };
  const down = (detail: string): DeliveryStatus => ({ ...base, healthy: false, state: 'down', detail });

  if (slot?.walStatus === 'lost') {
    const since = heartbeat ? ` since ${iso(heartbeat.at)} (its last heartbeat)` : '';
    const rows = facts.rowsSinceHeartbeat;
    return {
      ...base,
      healthy: false,
      state: 'lost',
      detail:
        `replication slot ${facts.slot} is lost: the server removed WAL it still needed (max_slot_wal_keep_size), so the connector cannot stream again; ` +
        `nothing delivered${since}${rows === undefined ? '' : `, ${rows} outbox row(s) written since are not in Kafka`}; run \`${RECOVER_COMMAND}\``,
      ...(heartbeat ? { since: iso(heartbeat.at) } : {}),
      ...(rows === undefined ? {} : { strandedRows: rows }),
    };
  }
  if (facts.connect === 'unreachable') return down('Kafka Connect did not answer');
  if (facts.connect === 'unregistered') return down(`connector ${facts.connector} is not registered in Kafka Connect; run \`npx sagaline provision\``);
  const notRunning = [{ what: 'connector', ...facts.connect.connector }, ...facts.connect.tasks.map((t) => ({ what: `task ${t.id}`, ...t }))].find((s) => s.state !== 'RUNNING');
  if (notRunning) return down(`${notRunning.what} is ${notRunning.state}${notRunning.trace ? `: ${notRunning.trace.split('\n')[0]}` : ''}`);
  if (facts.connect.tasks.length === 0) return down('the connector has no task');
  if (!slot) return down(`replication slot ${facts.slot} does not exist`);
  if (facts.delivered === 'unreachable') return down('Kafka did not answer: whether records arrive cannot be told');

  if (facts.delivered.records === 0) {
    const window = seconds(facts.delivered.windowMs);
    const holder = slot.active ? facts.walsenders.find((w) => w.pid === slot.activePid) : undefined;
    const loopAlive = heartbeat !== null && heartbeat.ageMs <= thresholds.stallAfterMs;
    const why = !slot.active
      ? `no connection streams from slot ${facts.slot}`
      : `slot ${facts.slot} is held by pid ${slot.activePid}${holder ? ` (connected ${iso(holder.since)})` : ''}` +
        (loopAlive
          ? ' and a Debezium loop still writes its database heartbeat, yet its records reach no topic: most likely a task Connect abandoned, which keeps the slot from the task it runs now'
          : ', and no database heartbeat either: the task is not streaming');
    // Only a connection that has held the slot longer than the stall itself is to blame (a task that just reconnected is not).
    const stale = holder !== undefined && holder.since < facts.observedAt - thresholds.stallAfterMs;
    return {
      ...base,
      healthy: false,
      state: 'stalled',
      detail: `stalled: no heartbeat record reached Kafka in the last ${window} although Connect reports RUNNING; ${why}; ${slot.lagBytes} bytes of WAL not confirmed`,
      ...(heartbeat && !loopAlive ? { since: iso(heartbeat.at) } : {}),
      ...(stale ? { staleHolderPid: holder.pid } : {}),
    };
  }
  if (slot.walStatus === 'unreserved') {
    return {
      ...base,
      healthy: false,
      state: 'at-risk',
      detail: `replication slot ${facts.slot} retains more WAL than max_slot_wal_keep_size allows and will be lost at the next checkpoint unless the connector catches up (${slot.lagBytes} bytes behind)`,
    };
  }
  return { ...base, healthy: true, state: 'streaming' };
}

/** The connectors provisioning registered (as recorded in the engine's database), with the database and slot of each. */
export async function provisionedConnectors(config: Config): Promise<{ name: string; database: string; slotName: string }[]> {
  if (config.relay !== 'debezium') return [];
  return (await registeredSources(config)).filter((s) => s.relay === 'debezium').map((s) => ({ name: s.connector, database: s.database, slotName: s.slotName }));
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface ServerFacts {
  slots: Map<string, SlotFacts>;
  walsenders: Map<string, WalSenderFacts[]>;
}

/** Slots and walsenders of the whole server (both are cluster-wide; any database will do). */
async function serverFacts(client: pg.ClientBase): Promise<ServerFacts> {
  const slotRows = await client.query<{ slot: string; active: boolean; active_pid: number | null; wal_status: string | null; confirmed: string | null; lag: string | null; retained: string | null }>(
    `select slot_name as slot, active, active_pid, wal_status, confirmed_flush_lsn::text as confirmed,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text as lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text as retained
       from pg_replication_slots where slot_type = 'logical'`,
  );
  const senderRows = await client.query<{ pid: number; datname: string; state: string | null; since: Date }>(
    `select a.pid, a.datname, coalesce(r.state, 'connecting') as state, a.backend_start as since
       from pg_stat_activity a left join pg_stat_replication r on r.pid = a.pid
      where a.backend_type = 'walsender' and a.datname is not null`,
  );
  const slots = new Map<string, SlotFacts>();
  for (const r of slotRows.rows) {
    slots.set(r.slot, { active: r.active, activePid: r.active_pid, walStatus: r.wal_status, confirmedFlushLsn: r.confirmed, lagBytes: Number(r.lag ?? 0), retainedBytes: Number(r.retained ?? 0) });
  }
  const walsenders = new Map<string, WalSenderFacts[]>();
  for (const r of senderRows.rows) {
    const list = walsenders.get(r.datname) ?? [];
    list.push({ pid: r.pid, state: r.state ?? 'connecting', since: r.since.getTime() });
    walsenders.set(r.datname, list);
  }
  return { slots, walsenders };
}

/** The heartbeat of a source database, and (for a lost slot) how many outbox rows were written since. */
async function sourceFacts(url: string, countSinceBeat: boolean): Promise<Pick<DeliveryFacts, 'heartbeat' | 'rowsSinceHeartbeat'>> {
  return withClient(url, async (client) => {
    const beat = await client
      .query<{ at: Date; age_ms: string }>(`select beat_at as at, (extract(epoch from now() - beat_at) * 1000)::bigint::text as age_ms from ${pg.escapeIdentifier(HEARTBEAT_TABLE)} where id = 1`)
      .catch((err: { code?: string }) => {
        if (err.code === '42P01') return { rows: [] }; // not provisioned yet
        throw err;
      });
    const row = beat.rows[0];
    const heartbeat = row ? { at: row.at.getTime(), ageMs: Number(row.age_ms) } : null;
    if (!countSinceBeat) return { heartbeat };
    const since = heartbeat ? new Date(heartbeat.at) : new Date(0);
    const { rows } = await client.query<{ n: string }>(`select count(*)::text as n from ${pg.escapeIdentifier(DEFAULT_OUTBOX_TABLE)} where occurred_at >= $1`, [since]);
    return { heartbeat, rowsSinceHeartbeat: Number(rows[0]?.n ?? 0) };
  });
}

async function connectStatuses(connectUrl: readonly string[], names: readonly string[]): Promise<Map<string, DeliveryFacts['connect']>> {
  const connect = new ConnectClient(connectUrl);
  const result = new Map<string, DeliveryFacts['connect']>();
  await Promise.all(
    names.map(async (name) => {
      try {
        result.set(name, (await connect.status(name)) ?? 'unregistered');
      } catch {
        result.set(name, 'unreachable');
      }
    }),
  );
  return result;
}

/** Per connector, how many heartbeat records reached its heartbeat topic in the last `windowMs` (one admin round trip per topic). */
async function heartbeatRecords(kafka: Kafka, names: readonly string[], windowMs: number): Promise<Map<string, DeliveryFacts['delivered']>> {
  const result = new Map<string, DeliveryFacts['delivered']>();
  const admin = kafka.admin();
  try {
    await admin.connect();
    const since = Date.now() - windowMs;
    const existing = new Set(await admin.listTopics());
    for (const name of names) {
      const topic = heartbeatTopicFor(name);
      if (!existing.has(topic)) {
        result.set(name, { windowMs, records: 0 }); // no heartbeat topic: nothing can arrive
        continue;
      }
      try {
        const [ends, from] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchTopicOffsetsByTimestamp(topic, since)]);
        // By timestamp: the first offset at or after `since`, or the end when no record is that recent.
        const records = ends.reduce((n, e) => n + Number(BigInt(e.high) - BigInt(from.find((f) => f.partition === e.partition)?.offset ?? e.high)), 0);
        result.set(name, { windowMs, records });
      } catch {
        // The topic exists but its offsets could not be read (a partition without a leader while a
        // broker of a cluster is away, say): that cannot tell, and must not read as "nothing
        // arrived" — the guard would end a healthy task's connection.
        result.set(name, 'unreachable');
      }
    }
  } catch {
    for (const name of names) result.set(name, 'unreachable');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return result;
}

/** Gathers the facts of every provisioned connector (Postgres must answer; Connect and Kafka may not). */
export async function gatherDeliveryFacts(config: Config, kafka?: Kafka): Promise<DeliveryFacts[]> {
  const connectors = await provisionedConnectors(config);
  if (connectors.length === 0) return [];
  const names = connectors.map((c) => c.name);
  // One attempt per broker: a broker that is down (one of a cluster) sends the next attempt to another; a whole cluster down fails fast.
  const client = kafka ?? kafkaClient(config, 'sagaline-delivery-health', { connectionTimeout: 3_000, retry: { retries: config.kafkaBrokers.length - 1, initialRetryTime: 100 }, logLevel: logLevel.NOTHING });
  const [server, statuses, delivered] = await Promise.all([
    withClient(config.databaseUrl, serverFacts),
    connectStatuses(config.connectUrls, names),
    heartbeatRecords(client, names, config.delivery.stallAfterMs),
  ]);
  return Promise.all(
    connectors.map(async (c) => {
      const slotFacts = server.slots.get(c.slotName);
      const source = await sourceFacts(databaseUrlFor(config, c.database), slotFacts?.walStatus === 'lost').catch(() => ({ heartbeat: null }));
      return {
        observedAt: Date.now(),
        connector: c.name,
        database: c.database,
        slot: c.slotName,
        connect: statuses.get(c.name) ?? 'unreachable',
        slotFacts,
        walsenders: server.walsenders.get(c.database) ?? [],
        delivered: delivered.get(c.name) ?? 'unreachable',
        ...source,
      };
    }),
  );
}

/** Every provisioned connector's delivery verdict. */
export async function inspectDelivery(config: Config, kafka?: Kafka): Promise<DeliveryStatus[]> {
  const thresholds = { stallAfterMs: config.delivery.stallAfterMs };
  return (await gatherDeliveryFacts(config, kafka)).map((f) => judgeDelivery(f, thresholds));
}
