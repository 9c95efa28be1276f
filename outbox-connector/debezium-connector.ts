/**
 * Debezium PostgreSQL connector configuration with the Outbox Event Router: each committed outbox
 * row becomes one Kafka record on the topic named by its aggregatetype, keyed by aggregateid,
 * with the payload bytes untouched and the row id and type as headers.
 */
import type { ConnectorConfig } from './connect-client.ts';

export interface OutboxConnectorOptions {
  /** Connector name; also Debezium's topic.prefix. */
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Replication slot: one per connector. */
  slotName: string;
  publicationName: string;
  outboxTable?: string;
  schema?: string;
}

export function outboxConnectorConfig(o: OutboxConnectorOptions): ConnectorConfig {
  const table = `${o.schema ?? 'public'}.${o.outboxTable ?? 'outbox'}`;
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    // The only logical decoding plugin built into Postgres; decoderbufs is not installed.
    'plugin.name': 'pgoutput',
    'database.hostname': o.host,
    'database.port': String(o.port),
    'database.user': o.user,
    'database.password': o.password,
    'database.dbname': o.database,
    'topic.prefix': o.name,
    'slot.name': o.slotName,
    'publication.name': o.publicationName,
    'publication.autocreate.mode': 'filtered',
    'table.include.list': table,
    // Outbox rows before the connector existed are not events to replay.
    'snapshot.mode': 'no_data',
    'tombstones.on.delete': 'false',
    transforms: 'outbox',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.route.by.field': 'aggregatetype',
    'transforms.outbox.route.topic.replacement': '${routedByValue}',
    'transforms.outbox.table.field.event.id': 'id',
    'transforms.outbox.table.field.event.key': 'aggregateid',
    'transforms.outbox.table.field.event.payload': 'payload',
    'transforms.outbox.table.fields.additional.placement': 'type:header:eventType',
    'transforms.outbox.table.expand.json.payload': 'false',
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    // Payload bytes pass through as they are (already Avro in Confluent wire format); the delegate
    // handles non-binary records such as heartbeats, which plain ByteArrayConverter would fail on.
    'value.converter': 'io.debezium.converters.BinaryDataConverter',
    'value.converter.delegate.converter.type': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.delegate.converter.type.schemas.enable': 'false',
  };
}
