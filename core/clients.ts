/** Client factories: every client is built from the Config, never from the environment. */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import { createLogger } from './log.ts';
import pg from 'pg';
import { databaseUrlFor, type Config } from './config.ts';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs clients log through pino, as JSON lines like everything else. */
export function kafkaClient(config: Config, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  const logger = createLogger(config, 'kafkajs');
  return new Kafka({
    clientId,
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, log }: LogEntry) => {
      const { message, ...extra } = log;
      logger[PINO_LEVEL[level] ?? 'info']({ ...extra, namespace, clientId }, message);
    },
    ...overrides,
  });
}

/**
 * The registry client, with avsc's default union handling: a topic's union of several records
 * decodes wrapped (`{ "acme.orders.PaymentCharged": {…} }`), a nullable field unwrapped.
 */
export function registryClient(config: Config): SchemaRegistry {
  return new SchemaRegistry({ host: config.schemaRegistryUrl });
}

/**
 * A pool on one database of the configured server (ENGINE_DATABASE for sagaline's own tables).
 *
 * A connection the server drops (Postgres restarted, crashed, killed) is reported as an 'error'
 * event: on the pool while the connection is idle, on the client itself while it is checked out.
 * Unheard, either event ends the process. Nothing is lost by hearing them: a query in flight fails
 * with the same error, the pool discards the dead connection and opens new ones on demand.
 * `onConnectionLost` is told of idle connections lost (to log them).
 */
export function pgPool(config: Config, database: string, max = 10, onConnectionLost?: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrlFor(config, database), max });
  pool.on('error', (err) => onConnectionLost?.(err));
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
