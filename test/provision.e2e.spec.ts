/**
 * Provisioning derived from saga definitions (provisionSagas) against the real stack, for two small
 * projects of this test's own under names no other run uses: each participant's database with an
 * outbox whose check constraint admits exactly its sagas' aggregate types (and the project's
 * streams), each saga's event log and dead-letter topic, each event log's schema subject, one
 * connector per database rendered from outbox-connector/connector-template.json. A second run
 * changes nothing; a second project sharing a database keeps the first one's aggregate types; an
 * idle source database does not pin WAL (connector heartbeats).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient } from '../core/clients.ts';
import { ENGINE_DATABASE } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { ok, participant, type Participant } from '../processors/engine/participant.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { provisionSagas, type SagaProvisionInput, type SagaProvisionReport } from '../infra/provision-sagas.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { connectorForSource, connectorNameFor, renderConnectorConfig, slotNameFor } from '../outbox-connector/connectors.ts';
import { ENGINE_MESSAGE_TYPES } from '../schemas/saga-contracts.ts';
import { deadLetterTopicFor, EVENT_LOG_PARTITIONS, heartbeatTopicFor } from '../topics/catalogue.ts';
import { config } from './support/fixtures.ts';
import { query } from './support/saga.ts';
import { readRange } from './support/consume.ts';

// Names of this run only: saga names take lower-case words and hyphens, databases underscores.
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const tripSaga = `trip${run}`;
const refundSaga = `refund${run}`;
const fareStream = `fares${run}`;
const flightsDb = `prov_${run}_flights`;
const billingDb = `prov_${run}_billing`;

const schemasDir = mkdtempSync(join(tmpdir(), 'sagaline-provision-'));
const record = (name: string) => ({ type: 'record', name, namespace: 'dev.test.provision', fields: [{ name: 'ref', type: 'string' }] });
mkdirSync(join(schemasDir, 'messages'));
for (const name of ['TripRequested', 'FlightBooked', 'FlightUnavailable', 'FlightCancelled', 'TripPaid', 'PaymentRefused', 'ClaimFiled', 'ClaimPaid', 'ClaimRejected', 'FareChanged']) {
  writeFileSync(join(schemasDir, 'messages', `${name}.avsc`), JSON.stringify(record(name)));
}

const act = () => ok({});
const trip = defineSaga({
  name: tripSaga,
  version: 1,
  startedBy: 'TripRequested',
  steps: {
    BOOK_FLIGHT: { owner: 'flights', succeeded: 'FlightBooked', failed: 'FlightUnavailable', compensatedBy: 'FlightCancelled' },
    PAY: { owner: 'billing', after: ['BOOK_FLIGHT'], succeeded: 'TripPaid', failed: 'PaymentRefused' },
  },
});
const refund = defineSaga({ name: refundSaga, version: 1, startedBy: 'ClaimFiled', steps: { PAY_OUT: { owner: 'billing', succeeded: 'ClaimPaid', failed: 'ClaimRejected' } } });
const tripParticipants: Participant[] = [
  participant(trip, 'flights', { database: flightsDb, ddl: ['create table if not exists bookings (saga_id text primary key)'], steps: { BOOK_FLIGHT: { act, compensate: act } } }),
  participant(trip, 'billing', { database: billingDb, ddl: ['create table if not exists payments (saga_id text primary key)'], steps: { PAY: { act } } }),
];
/** The first project: one saga, two services with a database each. */
const tripProject: SagaProvisionInput = { sagas: [trip], participants: tripParticipants, schemas: schemasDir };
/** A second project: another saga whose service shares the billing database, and a stream. */
const refundProject: SagaProvisionInput = {
  sagas: [refund],
  participants: [participant(refund, 'billing', { database: billingDb, steps: { PAY_OUT: { act } } })],
  schemas: schemasDir,
  streams: { [fareStream]: ['FareChanged'] },
};

const connect = new ConnectClient(config.connectUrls);
const ourConnectors = [flightsDb, billingDb].map(connectorNameFor);

/** The check constraint the outbox of `database` has: the aggregate types it admits, sorted. */
async function admitted(database: string): Promise<string[]> {
  const [row] = await query<{ def: string }>(database, "select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'outbox_aggregatetype_catalogued'");
  return [...(row?.def ?? '').matchAll(/'([^']+)'::text/g)].map((m) => m[1] as string).sort();
}

async function insertOutboxRow(database: string, aggregateType: string): Promise<void> {
  await query(database, "insert into outbox (id, aggregatetype, aggregateid, type, payload) values (gen_random_uuid(), $1, 'provision-test', 'X', '\\x00')", [aggregateType]);
}

async function latestSchema(subject: string): Promise<{ id: number; schema: string } | undefined> {
  const res = await fetch(`${config.schemaRegistryUrl}/subjects/${subject}/versions/latest`);
  return res.ok ? ((await res.json()) as { id: number; schema: string }) : undefined;
}

const changed = (report: SagaProvisionReport) =>
  [...report.databases, ...report.topics, ...report.schemas, ...report.connectors].filter((x) => x.change !== 'unchanged').map((x) => ('name' in x ? x.name : x.subject));

describe('provisioning derived from saga definitions', () => {
  let first: SagaProvisionReport;

  beforeAll(async () => {
    first = await provisionSagas(config, tripProject);
  });

  afterAll(async () => {
    // Leave nothing of this test behind: its connectors, slots, records, databases, topics.
    for (const name of ourConnectors) await connect.delete(name).catch(() => undefined);
    for (const database of [flightsDb, billingDb]) {
      const slot = slotNameFor(connectorNameFor(database));
      await waitFor(`slot ${slot} to be released`, async () => (await query<{ active: boolean }>('postgres', 'select active from pg_replication_slots where slot_name = $1', [slot]))[0]?.active !== true, { timeoutMs: 90_000 }).catch(() => undefined);
      // A logical slot is dropped from its own database, and keeps that database from being dropped.
      await query(database, 'select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [slot]).catch(() => undefined);
    }
    await query(ENGINE_DATABASE, 'delete from sagaline_outbox_sources where database = any($1)', [[flightsDb, billingDb]]).catch(() => undefined);
    await query(ENGINE_DATABASE, 'update sagaline_outbox_sources set aggregate_types = array(select unnest(aggregate_types) except select unnest($1::text[])) where database = $2', [[tripSaga, refundSaga], SAGAS_DATABASE]).catch(() => undefined);
    for (const database of [flightsDb, billingDb]) await query('postgres', `drop database if exists ${pg.escapeIdentifier(database)} with (force)`).catch(() => undefined);
    const admin = kafkaClient(config, 'provision-test-cleanup').admin();
    await admin.connect();
    try {
      const ours = (await admin.listTopics()).filter((t) => t.includes(run));
      if (ours.length) await admin.deleteTopics({ topics: ours });
    } finally {
      await admin.disconnect();
    }
    rmSync(schemasDir, { recursive: true, force: true });
  });

  it('given a project, when it is provisioned, then each participant database has an outbox admitting only its sagas, the engine database admits every saga, and rows of other types are refused', async () => {
    expect(first.databases).toEqual([
      { name: SAGAS_DATABASE, change: expect.stringMatching(/created|unchanged/), aggregateTypes: expect.arrayContaining([tripSaga]) },
      { name: flightsDb, change: 'created', aggregateTypes: [tripSaga] },
      { name: billingDb, change: 'created', aggregateTypes: [tripSaga] },
    ]);
    expect(await admitted(flightsDb)).toEqual([tripSaga]);
    expect(await admitted(billingDb)).toEqual([tripSaga]);
    expect(await admitted(SAGAS_DATABASE)).toContain(tripSaga);
    // The participants' own DDL ran in their databases
    expect((await query<{ t: string | null }>(flightsDb, "select to_regclass('public.bookings')::text as t"))[0]!.t).toBe('bookings');
    await insertOutboxRow(flightsDb, tripSaga);
    await expect(insertOutboxRow(flightsDb, refundSaga)).rejects.toThrow(/outbox_aggregatetype_catalogued/);
  });

  it('given a project, when it is provisioned, then its saga has an event log and a dead-letter topic, and the event log a schema subject of every message of the saga and the engine', async () => {
    const topic = `sagaline.${tripSaga}`;
    expect(first.topics.filter((t) => t.name.includes(run) && t.kind !== 'heartbeat')).toEqual([
      { name: topic, kind: 'event-log', partitions: EVENT_LOG_PARTITIONS, change: 'created' },
      { name: deadLetterTopicFor(topic), kind: 'dead-letter', partitions: 1, change: 'created' },
    ]);
    const admin = kafkaClient(config, 'provision-test').admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic, deadLetterTopicFor(topic), ...ourConnectors.map(heartbeatTopicFor)] });
      expect(metadata.topics.find((m) => m.name === topic)?.partitions).toHaveLength(EVENT_LOG_PARTITIONS);
      expect(metadata.topics.find((m) => m.name === deadLetterTopicFor(topic))?.partitions).toHaveLength(1);
      for (const name of ourConnectors) expect(metadata.topics.map((m) => m.name), 'heartbeat topic').toContain(heartbeatTopicFor(name));
    } finally {
      await admin.disconnect();
    }
    expect(first.schemas.map((s) => [s.subject, s.change])).toContainEqual([`${topic}-value`, 'registered']);
    const registered = await latestSchema(`${topic}-value`);
    const branches = (JSON.parse(registered!.schema) as { name: string }[]).map((b) => b.name.slice(b.name.lastIndexOf('.') + 1)).sort();
    expect(branches).toEqual([...trip.messages.keys(), ...ENGINE_MESSAGE_TYPES].sort());
  });

  it('given a project, when it is provisioned, then each database has one connector rendered from the template, running, with its slot active', async () => {
    expect(first.connectors.map((c) => c.name)).toEqual([connectorNameFor(SAGAS_DATABASE), ...ourConnectors]);
    for (const database of [flightsDb, billingDb]) {
      const name = connectorNameFor(database);
      const rendered = renderConnectorConfig(connectorForSource({ database, aggregateTypes: [tripSaga] }), config.connectDatabaseUrl, {}, config.connectDatabasePassword);
      const live = (await (await fetch(`${config.connectUrl}/connectors/${name}/config`)).json()) as Record<string, string>;
      expect(live, name).toMatchObject(rendered.config);
      expect(live['database.dbname']).toBe(database);
      expect((await connect.status(name))?.connector.state, name).toBe('RUNNING');
      const slot = await query<{ active: boolean }>(database, 'select active from pg_replication_slots where slot_name = $1', [slotNameFor(name)]);
      expect(slot[0]?.active, slotNameFor(name)).toBe(true);
    }
  });

  it("given the local stack, when its connectors are provisioned, then Connect holds a reference to the database password, never the password, and its worker resolves it (the connector streams over a password-checked connection)", async () => {
    expect(config.connectDatabasePassword).toMatch(/^\$\{file:.+:database\.password\}$/);
    for (const database of [flightsDb, billingDb]) {
      const name = connectorNameFor(database);
      const live = (await (await fetch(`${config.connectUrl}/connectors/${name}/config`)).json()) as Record<string, string>;
      expect(live['database.password']).toBe(config.connectDatabasePassword);
      // Postgres checks passwords on TCP (scram-sha-256): a running task with an active slot logged in with the resolved one
      expect((await connect.status(name))?.tasks.map((t) => t.state), name).toEqual(['RUNNING']);
      const slot = await query<{ active: boolean }>(database, 'select active from pg_replication_slots where slot_name = $1', [slotNameFor(name)]);
      expect(slot[0]?.active, slotNameFor(name)).toBe(true);
    }
    // What Connect keeps in its config topic is what it was given: the reference
    const records = (await readRange(['_sagaline-connect-configs'])).map((r) => r.value?.toString('utf8') ?? '');
    const ours = records.filter((r) => r.includes(`"database.dbname":"${flightsDb}"`));
    expect(ours.length).toBeGreaterThan(0);
    for (const r of ours) expect(JSON.parse(r).properties['database.password']).toBe(config.connectDatabasePassword);
  });

  it('given a provisioned project, when it is provisioned again, then nothing changes', async () => {
    const again = await provisionSagas(config, tripProject);
    expect(changed(again)).toEqual([]);
    expect(again.databases.map((d) => d.name)).toEqual(first.databases.map((d) => d.name));
  });

  it('given a second project sharing a database, when it is provisioned, then that outbox admits both projects’ sagas and the stream, and the stream has its topic and subject', async () => {
    // When the second project, whose service shares the billing database, is provisioned
    const second = await provisionSagas(config, refundProject);

    // Then the shared outbox admits the first project's saga beside the second's and its stream
    expect(second.databases.find((d) => d.name === billingDb)).toEqual({ name: billingDb, change: 'unchanged', aggregateTypes: [fareStream, refundSaga, tripSaga].sort() });
    expect(await admitted(billingDb)).toEqual([fareStream, refundSaga, tripSaga].sort());
    await insertOutboxRow(billingDb, tripSaga);
    await insertOutboxRow(billingDb, fareStream);
    expect(await admitted(SAGAS_DATABASE)).toEqual(expect.arrayContaining([refundSaga, tripSaga]));
    // And the first project's other database is untouched
    expect(second.databases.map((d) => d.name)).not.toContain(flightsDb);
    expect(await admitted(flightsDb)).toEqual([tripSaga]);

    // And the stream has its event log and a subject of its messages only
    const streamTopic = `sagaline.${fareStream}`;
    expect(second.topics.find((t) => t.name === streamTopic)).toMatchObject({ kind: 'event-log', change: 'created' });
    const registered = await latestSchema(`${streamTopic}-value`);
    expect(JSON.parse(registered!.schema)).toEqual([expect.objectContaining({ type: 'record', name: 'FareChanged', namespace: 'dev.test.provision' })]);

    // And provisioning the first project again does not narrow the shared outbox
    expect(changed(await provisionSagas(config, tripProject))).toEqual([]);
    expect(await admitted(billingDb)).toEqual([fareStream, refundSaga, tripSaga].sort());
  });

  it('given an idle source database, when other databases write WAL, then its slot keeps confirming (the connector heartbeats into its own database)', async () => {
    // Given the flights database, which nobody writes to after provisioning
    const slot = slotNameFor(connectorNameFor(flightsDb));
    const busy = `walwriter_${run}`;
    const admin = new pg.Client({ connectionString: config.databaseUrl });
    await admin.connect();
    try {
      // When another database writes WAL
      await admin.query(`create table ${busy} (id serial, filler text)`);
      await admin.query(`insert into ${busy} (filler) select repeat('x', 200) from generate_series(1, 20000)`);
      const target = (await admin.query('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string;

      // Then the idle connector's slot confirms past that point
      await waitFor(
        `slot ${slot} to confirm LSN ${target}`,
        async () => (await admin.query('select confirmed_flush_lsn >= $2::pg_lsn as ok from pg_replication_slots where slot_name = $1', [slot, target])).rows[0]?.ok === true,
        { timeoutMs: 90_000, intervalMs: 1_000 },
      );
    } finally {
      await admin.query(`drop table if exists ${busy}`);
      await admin.end();
    }
    const beats = await query<{ n: number }>(flightsDb, 'select count(*)::int as n from sagaline_heartbeat');
    expect(beats[0]!.n).toBe(1);
  });
});
