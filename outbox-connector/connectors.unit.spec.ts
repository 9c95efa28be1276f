import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { outboxSources } from '../infra/provision-sagas.ts';
import { ok, participant } from '../processors/engine/participant.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { ROUTE_TOPIC_REPLACEMENT, topicForAggregateType } from '../topics/catalogue.ts';
import { sagaTopics } from '../topics/derived.ts';
import { connectorForSource, connectorNameFor, renderConnectorConfig, slotNameFor } from './connectors.ts';
import { HEADER_COLUMNS } from './outbox-table.ts';

const act = () => ok({});
const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  startedBy: 'TripRequested',
  steps: {
    BOOK_FLIGHT: { owner: 'flights', succeeded: 'FlightBooked', failed: 'FlightUnavailable', compensatedBy: 'FlightCancelled' },
    PAY: { owner: 'billing', after: ['BOOK_FLIGHT'], succeeded: 'TripPaid', failed: 'PaymentRefused' },
  },
});
const participants = [
  participant(trip, 'flights', { database: 'flights_service', steps: { BOOK_FLIGHT: { act, compensate: act } } }),
  participant(trip, 'billing', { database: 'billing_service', steps: { PAY: { act } } }),
];

describe('connector definitions', () => {
  // As provisioning renders them: one per source database its definitions derive.
  const definitions = outboxSources({ sagas: [trip], participants }).map((source) => connectorForSource(source));

  it('has one connector per source database: the engine’s and each participant’s', () => {
    expect(definitions.map((d) => d.database).sort()).toEqual(['billing_service', 'flights_service', 'sagaline_sagas']);
  });

  it.each(definitions.map((d) => [d.name, d] as const))('%s routes only to the sagas’ own topics, as the polling relay does', (_, d) => {
    const topics = sagaTopics([trip]).map((t) => t.name);
    for (const aggregateType of d.aggregateTypes) expect(topics).toContain(topicForAggregateType(aggregateType));
    expect(d.config['transforms.outbox.route.topic.replacement']).toBe(ROUTE_TOPIC_REPLACEMENT);
    expect(d.config['transforms.outbox.table.fields.additional.placement']).toBe(HEADER_COLUMNS.map(([col, header]) => `${col}:header:${header}`).join(','));
    expect(d.config['transforms.outbox.table.field.event.key']).toBe('aggregateid');
    expect(d.config['plugin.name']).toBe('pgoutput');
    expect(d.config['value.converter']).toBe('io.debezium.converters.BinaryDataConverter');
    expect(Number(d.config['heartbeat.interval.ms'])).toBeGreaterThan(0);
    // Debezium 3 adds __debezium.context.* headers by default; the polling relay does not.
    expect(d.config['extended.headers.enabled']).toBe('false');
  });

  it('given a config provider reference, then the password placeholder gets the reference, never the URL\'s password', () => {
    const rendered = renderConnectorConfig(definitions[0]!, 'postgres://u:s3cret@db.example:6543/x', {}, '${env:PGPASSWORD}');
    expect(rendered.config['database.password']).toBe('${env:PGPASSWORD}');
    expect(JSON.stringify(rendered.config)).not.toContain('s3cret');
  });

  it('fills every placeholder from the connection URL and overrides', () => {
    const rendered = renderConnectorConfig(definitions[0]!, 'postgres://u%40x:p%3Aw@db.example:6543/ignored', { name: 'Test.C1', database: 'db1' });
    expect(rendered.config['database.hostname']).toBe('db.example');
    expect(rendered.config['database.port']).toBe('6543');
    expect(rendered.config['database.user']).toBe('u@x');
    expect(rendered.config['database.password']).toBe('p:w');
    expect(rendered.config['database.dbname']).toBe('db1');
    expect(rendered.config['slot.name']).toBe('sagaline_test_c1');
    expect(rendered.config['predicates.isOutboxRow.pattern']).toBe('Test\\.C1\\.public\\.outbox');
    expect(JSON.stringify(rendered.config)).not.toMatch(/\{\{/);
  });

  it('given DATABASE_URL with sslmode and sslrootcert, then Debezium connects with the same TLS settings; without them, it gets none', () => {
    const rendered = renderConnectorConfig(definitions[0]!, 'postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem');
    expect([rendered.config['database.sslmode'], rendered.config['database.sslrootcert']]).toEqual(['verify-full', '/etc/ca.pem']);
    const plain = renderConnectorConfig(definitions[0]!, 'postgres://u:p@db:5432/x');
    expect(Object.keys(plain.config).filter((k) => k.includes('ssl'))).toEqual([]);
  });

  it('renders a source under its database’s connector name, slot and publication', () => {
    const rendered = renderConnectorConfig(connectorForSource({ database: 'billing_service', aggregateTypes: ['trip-booking'] }), 'postgres://u:p@db:5432/x');
    expect(rendered).toMatchObject({ name: 'billing-service-outbox', database: 'billing_service', slotName: 'sagaline_billing_service_outbox' });
    expect(rendered.config).toMatchObject({ 'topic.prefix': 'billing-service-outbox', 'slot.name': rendered.slotName, 'publication.name': rendered.slotName, 'database.dbname': 'billing_service' });
  });

  it('derives valid Postgres slot names', () => {
    expect(slotNameFor('Billing-Service.v2')).toBe('sagaline_billing_service_v2');
    expect(slotNameFor('x'.repeat(100))).toHaveLength(63);
  });

  it('renders one template for every source, each connector named after its database', () => {
    expect(definitions.map((d) => d.name)).toEqual(definitions.map((d) => connectorNameFor(d.database)));
    expect(connectorNameFor('billing_service')).toBe('billing-service-outbox');
    const [first, ...rest] = definitions;
    for (const d of rest) expect(d.config).toEqual(first!.config);
  });

  it('refuses a template without a config object or with an unknown placeholder, naming the file or the key', () => {
    // Given a template file that is not JSON, one without config, and one with a placeholder nobody fills
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-template-'));
    const file = join(dir, 'connector-template.json');
    const source = { database: 'billing_service', aggregateTypes: ['trip-booking'] };
    writeFileSync(file, '{ not json');
    expect(() => connectorForSource(source, file)).toThrow(ConfigError);
    expect(() => connectorForSource(source, file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    writeFileSync(file, JSON.stringify({ connector: {} }));
    expect(() => connectorForSource(source, file)).toThrow(`${file} needs a config object`);
    writeFileSync(file, JSON.stringify({ config: { 'database.dbname': '{{DATABASE_NAME}}', 'snapshot.mode': '{{SNAPSHOT}}' } }));
    expect(() => renderConnectorConfig(connectorForSource(source, file), 'postgres://u:p@db:5432/x')).toThrow('connector billing-service-outbox: unknown placeholder {{SNAPSHOT}} in snapshot.mode');
  });
});
