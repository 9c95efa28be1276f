/**
 * Outbox cleanup in Debezium mode: rows are deleted once the connector's replication slot has
 * confirmed past their commit, never before. (The polling relay deletes each row itself once the
 * broker acknowledged it; Debezium only reads the WAL, and skips the deletes, `skipped.operations`.)
 *
 * A row's commit LSN is not stored anywhere, so each run works in two steps:
 *   1. rows marked by an earlier run whose bound the slot has confirmed (and older than the
 *      retention) are deleted, with their marks;
 *   2. every unmarked row is marked with `pg_current_wal_insert_lsn()` read by the marking
 *      statement itself. A row that statement sees was committed before it ran, so its commit
 *      record lies before that position: once `confirmed_flush_lsn` reaches the mark, the row's
 *      transaction was streamed to Kafka and acknowledged.
 * A slot that is missing or lost confirms nothing: nothing is deleted or marked, and `sagaline
 * outbox recover` still finds every row it may need to re-send; while a recovery works on the slot
 * (it holds an advisory lock), cleanup stays away. The retention (default an hour, more than the
 * recovery's margin) keeps recent rows in any case. Not covered: a slot dropped by hand and created
 * again by Debezium itself, outside `outbox recover` — its new slot confirms past rows the old one
 * never streamed, and those older than the retention may be deleted before they are re-sent.
 */
import pg from 'pg';
import { databaseUrlFor, type Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { DEFAULT_OUTBOX_TABLE } from './outbox-table.ts';
import { registeredSources } from './sources-registry.ts';

const MARKS = 'sagaline_outbox_cleanup';

export interface OutboxCleanup {
  database: string;
  slot: string;
  /** The slot's confirmed position when the run began; null when the slot does not exist. */
  confirmedLsn: string | null;
  /** Rows deleted by this run: each confirmed by the slot. */
  deleted: number;
  /** Rows marked by this run, to be deleted by a later one once the slot confirms past them. */
  marked: number;
  /** Why nothing was done, when nothing was. */
  skipped?: string;
}

export interface CleanupOptions {
  /** Rows younger than this stay whatever the slot confirmed. */
  retentionMs: number;
  table?: string;
}

/** One run over one source database (see the module comment). */
export async function cleanOutbox(databaseUrl: string, database: string, slotName: string, options: CleanupOptions): Promise<OutboxCleanup> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  const t = pg.escapeIdentifier(options.table ?? DEFAULT_OUTBOX_TABLE);
  try {
    // Not while `outbox recover` works on this slot (it holds this lock throughout): its new slot
    // confirms past rows it has not re-sent yet. (A recovery started during a run is refused; run it again.)
    if (!(await client.query('select pg_try_advisory_lock(hashtext($1)) as ok', [`sagaline-recover:${slotName}`])).rows[0].ok) {
      return { database, slot: slotName, confirmedLsn: null, deleted: 0, marked: 0, skipped: 'the slot is being recovered' };
    }
    await client.query(`create table if not exists ${MARKS} (id uuid primary key, bound pg_lsn not null)`);
    const slot = (await client.query<{ lsn: string | null; lost: boolean }>("select confirmed_flush_lsn::text as lsn, wal_status = 'lost' as lost from pg_replication_slots where slot_name = $1", [slotName])).rows[0];
    // A missing or lost slot confirms nothing, and rows are not marked against it either: marks
    // made while no valid slot exists would be passed by the next slot without being streamed.
    if (!slot || slot.lost || slot.lsn === null) {
      return { database, slot: slotName, confirmedLsn: null, deleted: 0, marked: 0, skipped: !slot ? 'the slot does not exist' : 'the slot is lost (outbox recover mends it)' };
    }
    const confirmedLsn = slot.lsn;
    let deleted = 0;
    {
      await client.query('begin');
      try {
        const gone = await client.query<{ id: string }>(
          `delete from ${t} o using ${MARKS} m
            where o.id = m.id and m.bound <= $1::pg_lsn and o.occurred_at < now() - make_interval(secs => $2::double precision / 1000)
           returning o.id`,
          [confirmedLsn, options.retentionMs],
        );
        deleted = gone.rowCount ?? 0;
        // Marks of rows deleted now, or gone otherwise.
        await client.query(`delete from ${MARKS} m where m.bound <= $1::pg_lsn and not exists (select 1 from ${t} o where o.id = m.id)`, [confirmedLsn]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      }
    }
    // One statement: the position is read after its snapshot, so it lies past every commit the snapshot shows.
    const marked = await client.query(`insert into ${MARKS} (id, bound) select o.id, pg_current_wal_insert_lsn() from ${t} o where not exists (select 1 from ${MARKS} m where m.id = o.id) on conflict do nothing`);
    return { database, slot: slotName, confirmedLsn, deleted, marked: marked.rowCount ?? 0 };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One run over every source provisioned for Debezium (or the one named). */
export async function cleanOutboxes(config: Config, options: { database?: string; retentionMs?: number; log?: Logger } = {}): Promise<OutboxCleanup[]> {
  const sources = (await registeredSources(config)).filter((s) => s.relay === 'debezium' && (options.database === undefined || s.database === options.database));
  const results: OutboxCleanup[] = [];
  for (const s of sources) {
    const result = await cleanOutbox(databaseUrlFor(config, s.database), s.database, s.slotName, { retentionMs: options.retentionMs ?? config.outboxRetentionMs });
    if (result.deleted > 0 || result.skipped) options.log?.info(result, result.skipped ? `outbox cleanup skipped: ${result.skipped}` : 'outbox cleanup');
    results.push(result);
  }
  return results;
}
