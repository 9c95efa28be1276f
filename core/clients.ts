/** Client factories: every client is built from the Config, never from the environment. */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import pg from 'pg';
import { databaseUrlFor, type Config } from './config.ts';

export function kafkaClient(config: Config, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({ clientId, brokers: config.kafkaBrokers, logLevel: logLevel.WARN, ...overrides });
}

/**
 * Decoded unions are always wrapped (`{ "dev.sagaline.training.ModelReserved": {…} }`), so the
 * record's name is explicit whether a topic carries one message type or many.
 */
export function registryClient(config: Config): SchemaRegistry {
  return new SchemaRegistry({ host: config.schemaRegistryUrl }, { [SchemaType.AVRO]: { wrapUnions: true } });
}

/** A pool on the configured server; `database` picks another database on the same server. */
export function pgPool(config: Config, database?: string, max = 10): pg.Pool {
  const connectionString = database ? databaseUrlFor(config, database) : config.databaseUrl;
  return new pg.Pool({ connectionString, max });
}
