/**
 * Replication slots: how far each Debezium connector is behind the WAL. A slot keeps every WAL
 * segment its consumer has not confirmed, so while Connect is down the lag grows (and so does the
 * disk the server holds on to); when Connect returns it reads on from the confirmed position and
 * the lag drains without an event lost.
 */
import pg from 'pg';

export interface ReplicationSlotStatus {
  slot: string;
  database: string | null;
  /** A walsender (Debezium's connection) is attached. */
  active: boolean;
  /** WAL written since the position the consumer last confirmed: what it has still to read (bytes). */
  lagBytes: number;
  /** WAL the server keeps for this slot (from restart_lsn): the disk cost of the lag (bytes). */
  retainedBytes: number;
}

/** Every logical slot of the server (slots are cluster-wide: any database of it will do). */
export async function replicationSlots(databaseUrl: string): Promise<ReplicationSlotStatus[]> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ slot: string; database: string | null; active: boolean; lag: string | null; retained: string | null }>(
      `select slot_name as slot, database, active,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text as lag,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text as retained
         from pg_replication_slots
        where slot_type = 'logical'
        order by slot_name`,
    );
    return rows.map((r) => ({ slot: r.slot, database: r.database, active: r.active, lagBytes: Number(r.lag ?? 0), retainedBytes: Number(r.retained ?? 0) }));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
