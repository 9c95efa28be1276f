import { Command } from 'commander';
import { parseTime } from '../audit/replay.ts';
import { loadConfig } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { cleanOutboxes } from '../outbox-connector/cleanup.ts';
import { recoverLostSlots, RESEND_MARGIN_MS } from '../outbox-connector/slot-recovery.ts';
import { printJson, progress, table } from './output.ts';

export function outboxCommand(): Command {
  const outbox = new Command('outbox').description('outbox delivery: recover what a lost replication slot stranded; clean up delivered rows');

  outbox
    .command('recover')
    .description(
      `for every connector whose replication slot is lost (stack status says so): stop it, create its slot anew, re-send from the outbox table every row written since ${RESEND_MARGIN_MS / 60_000} min before it last delivered, and resume it; consumers drop what they already had`,
    )
    .option('--connector <name>', 'recover this connector only, even if its slot is not lost (a slot dropped by hand)')
    .option('--since <time>', 're-send rows written since this time (ISO 8601 or ms since the epoch) instead')
    .option('--all', 're-send every row of the outbox table')
    .option('--json', 'print [{"connector","database","slot","resentSince","resent","newSlotLsn","elapsedMs"}]')
    .action(async (opts: { connector?: string; since?: string; all?: boolean; json?: boolean }) => {
      if (opts.since && opts.all) throw new SagalineError('REQUEST_INVALID', '--since and --all exclude each other');
      const since = opts.all ? ('all' as const) : opts.since ? new Date(parseTime('--since', opts.since)) : undefined;
      const results = await recoverLostSlots(loadConfig(), { ...(opts.connector ? { connector: opts.connector } : {}), ...(since ? { since } : {}), log: progress });
      if (opts.json) return printJson(results);
      if (results.length === 0) return progress('no replication slot is lost: nothing to recover');
      console.log(table(results.map((r) => ({ connector: r.connector, slot: r.slot, 'new slot at': r.newSlotLsn, 're-sent rows': r.resent, 'written since': r.resentSince ?? 'ever', seconds: (r.elapsedMs / 1000).toFixed(1) }))));
    });

  outbox
    .command('cleanup')
    .description('Debezium mode: delete outbox rows the connector\'s replication slot has confirmed past (never before), older than the retention; the saga monitor also runs this every SAGALINE_OUTBOX_CLEANUP_INTERVAL_MS. A row is marked on one run and deleted on a later one, once confirmed.')
    .option('--database <name>', 'this source database only')
    .option('--retention-ms <ms>', 'keep rows younger than this (default SAGALINE_OUTBOX_RETENTION_MS, an hour)')
    .option('--json', 'print [{"database","slot","confirmedLsn","deleted","marked"}]')
    .action(async (opts: { database?: string; retentionMs?: string; json?: boolean }) => {
      const retentionMs = opts.retentionMs === undefined ? undefined : Number(opts.retentionMs);
      if (retentionMs !== undefined && !(Number.isInteger(retentionMs) && retentionMs >= 0)) throw new SagalineError('REQUEST_INVALID', `--retention-ms must be a whole number of milliseconds, 0 or more, got "${opts.retentionMs}"`);
      const results = await cleanOutboxes(loadConfig(), { ...(opts.database ? { database: opts.database } : {}), ...(retentionMs !== undefined ? { retentionMs } : {}) });
      if (opts.json) return printJson(results);
      if (results.length === 0) return progress(opts.database ? `no source database ${opts.database} is provisioned for Debezium` : 'no source database is provisioned for Debezium: nothing to clean');
      console.log(table(results.map((r) => ({ database: r.database, slot: r.slot, 'slot confirmed': r.confirmedLsn ?? 'no such slot: nothing deleted', deleted: r.deleted, 'marked for a later run': r.marked }))));
    });

  return outbox;
}
