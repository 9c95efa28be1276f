import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { EVENT_LOG_TOPICS, ROUTE_TOPIC_REPLACEMENT, topicForAggregateType } from '../topics/catalogue.ts';
import { CONNECTOR_TEMPLATE_FILE, connectorNameFor, loadConnectorDefinitions, renderConnectorConfig, slotNameFor } from './connectors.ts';
import { HEADER_COLUMNS } from './outbox-table.ts';

describe('connector definitions', () => {
  const definitions = loadConnectorDefinitions();

  it('has one connector per source database', () => {
    expect(definitions.map((d) => d.database).sort()).toEqual(['audit_service', 'model_service', 'resource_service', 'sagaline', 'training_service']);
  });

  it.each(definitions.map((d) => [d.name, d] as const))('%s routes only to catalogued topics, as the polling relay does', (_, d) => {
    for (const aggregateType of d.aggregateTypes) {
      expect(EVENT_LOG_TOPICS.map((t) => t.name)).toContain(topicForAggregateType(aggregateType));
    }
    expect(d.config['transforms.outbox.route.topic.replacement']).toBe(ROUTE_TOPIC_REPLACEMENT);
    expect(d.config['transforms.outbox.table.fields.additional.placement']).toBe(HEADER_COLUMNS.map(([col, header]) => `${col}:header:${header}`).join(','));
    expect(d.config['transforms.outbox.table.field.event.key']).toBe('aggregateid');
    expect(d.config['plugin.name']).toBe('pgoutput');
    expect(d.config['value.converter']).toBe('io.debezium.converters.BinaryDataConverter');
    expect(Number(d.config['heartbeat.interval.ms'])).toBeGreaterThan(0);
    // Debezium 3 adds __debezium.context.* headers by default; the polling relay does not.
    expect(d.config['extended.headers.enabled']).toBe('false');
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

  it('derives valid Postgres slot names', () => {
    expect(slotNameFor('Model-Service.v2')).toBe('sagaline_model_service_v2');
    expect(slotNameFor('x'.repeat(100))).toHaveLength(63);
  });

  it('renders one template for every source, each connector named after its database', () => {
    expect(definitions.map((d) => d.name)).toEqual(definitions.map((d) => connectorNameFor(d.database)));
    expect(connectorNameFor('order_service')).toBe('order-service-outbox');
    const [first, ...rest] = definitions;
    for (const d of rest) expect(d.config).toEqual(first!.config);
  });

  it('refuses a source without a database or aggregate types, naming the file and the entry', () => {
    // Given a sources file whose second entry has no aggregate types
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-sources-'));
    const file = join(dir, 'sources.json');
    writeFileSync(file, JSON.stringify({ sources: [{ database: 'a_db', aggregateTypes: ['a-events'] }, { database: 'b_db' }] }));
    // When loaded, then refused
    expect(() => loadConnectorDefinitions(file, CONNECTOR_TEMPLATE_FILE)).toThrow(ConfigError);
    expect(() => loadConnectorDefinitions(file, CONNECTOR_TEMPLATE_FILE)).toThrow(`${file}: sources[1] needs a database`);
    writeFileSync(file, '{ not json');
    expect(() => loadConnectorDefinitions(file, CONNECTOR_TEMPLATE_FILE)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});
