/**
 * `npx sagaline provision` against the real stack: everything it creates exists afterwards, a
 * second run changes nothing, and an idle source database does not pin WAL (connector heartbeats).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { kafkaClient, pgPool } from '../core/clients.ts';
import { databaseUrlFor } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import type { ProvisionReport } from '../infra/provision.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { loadConnectorDefinitions, slotNameFor } from '../outbox-connector/connectors.ts';
import { catalogue } from '../topics/catalogue.ts';
import { sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';

const stackEnv = (): Record<string, string> => ({ SAGALINE_RELAY: 'debezium' });

async function provisionJson(): Promise<ProvisionReport> {
  const result = await sagaline(['provision', '--json'], stackEnv());
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ProvisionReport;
}

describe('sagaline provision', () => {
  const definitions = loadConnectorDefinitions();

  it('provisions databases, topics, schemas and connectors, and a second run changes nothing', async () => {
    // When provision runs twice in a row
    await provisionJson();
    const second = await provisionJson();

    // Then the second run reports everything as already there
    expect(second.changed).toBe(false);
    expect([...second.databases, ...second.topics, ...second.schemas, ...second.connectors].filter((x) => x.change !== 'unchanged')).toEqual([]);
    expect(second.schemas.map((s) => s.subject)).toEqual(catalogue([]).filter((t) => t.kind === 'event-log').map((t) => `${t.name}-value`));

    // And what it reports really exists: every catalogue topic with its partitions and retention …
    const admin = kafkaClient(config, 'provision-test').admin();
    await admin.connect();
    try {
      const wanted = catalogue(definitions.map((d) => d.name));
      const metadata = await admin.fetchTopicMetadata({ topics: wanted.map((t) => t.name) });
      for (const t of wanted) expect(metadata.topics.find((m) => m.name === t.name)?.partitions.length, t.name).toBe(t.partitions);
    } finally {
      await admin.disconnect();
    }
    // … every connector running with an active slot, and every source database with its outbox
    const connect = new ConnectClient(config.connectUrl);
    for (const d of definitions) {
      const status = await connect.status(d.name);
      expect(status?.connector.state, d.name).toBe('RUNNING');
      const pool = pgPool(config, d.database, 1);
      try {
        expect((await pool.query("select to_regclass('public.outbox') is not null as ok")).rows[0].ok, d.database).toBe(true);
        expect((await pool.query('select active from pg_replication_slots where slot_name = $1', [slotNameFor(d.name)])).rows[0]?.active, d.name).toBe(true);
      } finally {
        await pool.end();
      }
    }
  });

  it('keeps the slot of an idle source database moving while other databases write WAL', async () => {
    // Given a source database nobody writes to (audit-service, before any saga runs in this test)
    const idle = definitions.find((d) => d.database === 'audit_service')!;
    const slot = slotNameFor(idle.name);
    const busy = uniqueName('walwriter');
    const admin = new pg.Client({ connectionString: config.databaseUrl });
    await admin.connect();
    try {
      // When another database writes WAL
      await admin.query(`create table ${busy} (id serial, filler text)`);
      await admin.query(`insert into ${busy} (filler) select repeat('x', 200) from generate_series(1, 20000)`);
      const target = (await admin.query('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string;

      // Then the idle connector's slot confirms past that point (its heartbeat writes to its own database)
      await waitFor(
        `slot ${slot} to confirm LSN ${target}`,
        async () => (await admin.query('select confirmed_flush_lsn >= $2::pg_lsn as ok from pg_replication_slots where slot_name = $1', [slot, target])).rows[0]?.ok === true,
        { timeoutMs: 90_000, intervalMs: 1_000 },
      );
    } finally {
      await admin.query(`drop table if exists ${busy}`);
      await admin.end();
    }
    const heartbeat = new pg.Client({ connectionString: databaseUrlFor(config, idle.database) });
    await heartbeat.connect();
    try {
      expect((await heartbeat.query('select count(*)::int as n from sagaline_heartbeat')).rows[0].n).toBe(1);
    } finally {
      await heartbeat.end();
    }
  });
});
