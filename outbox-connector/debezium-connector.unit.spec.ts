import { describe, expect, it } from 'vitest';
import { outboxConnectorConfig } from './debezium-connector.ts';
import { slotNameFor } from './provision.ts';

describe('outboxConnectorConfig', () => {
  const config = outboxConnectorConfig({
    name: 'model-service', host: '127.0.0.1', port: 55432, user: 'u', password: 'p', database: 'model_service', slotName: 's', publicationName: 'pub',
  });

  it('decodes with pgoutput and captures only the outbox table, from now on', () => {
    expect(config['plugin.name']).toBe('pgoutput');
    expect(config['table.include.list']).toBe('public.outbox');
    expect(config['snapshot.mode']).toBe('no_data');
  });

  it('routes by aggregatetype, keys by aggregateid, puts type into the eventType header', () => {
    expect(config['transforms.outbox.type']).toBe('io.debezium.transforms.outbox.EventRouter');
    expect(config['transforms.outbox.route.by.field']).toBe('aggregatetype');
    expect(config['transforms.outbox.route.topic.replacement']).toBe('${routedByValue}');
    expect(config['transforms.outbox.table.field.event.key']).toBe('aggregateid');
    expect(config['transforms.outbox.table.fields.additional.placement']).toBe('type:header:eventType');
  });

  it('passes payload bytes through untouched but can still serialise heartbeats', () => {
    expect(config['value.converter']).toBe('io.debezium.converters.BinaryDataConverter');
    expect(config['value.converter.delegate.converter.type']).toBe('org.apache.kafka.connect.json.JsonConverter');
  });

  it('derives a valid Postgres slot name from any connector name', () => {
    expect(slotNameFor('Model-Service.v2')).toBe('sagaline_model_service_v2');
    expect(slotNameFor('x'.repeat(100))).toHaveLength(63);
  });
});
