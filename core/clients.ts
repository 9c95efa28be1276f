/** Client factories: every client is built from the Config, never from the environment. */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import pg from 'pg';
import { databaseUrlFor, type Config } from './config.ts';

export function kafkaClient(config: Config, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({ clientId, brokers: config.kafkaBrokers, logLevel: logLevel.WARN, ...overrides });
}

/**
 * The registry client, with avsc's default union handling: a topic's union of several records
 * decodes wrapped (`{ "dev.sagaline.training.ModelReserved": {…} }`), a nullable field unwrapped.
 */
export function registryClient(config: Config): SchemaRegistry {
  return new SchemaRegistry({ host: config.schemaRegistryUrl });
}

/** A pool on the configured server; `database` picks another database on the same server. */
export function pgPool(config: Config, database?: string, max = 10): pg.Pool {
  const connectionString = database ? databaseUrlFor(config, database) : config.databaseUrl;
  return new pg.Pool({ connectionString, max });
}
