/** Client factories: every client is built from the Config, never from the environment. */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import TimeoutMiddleware from 'mappersmith/middlewares/timeout';
import { createLogger } from './log.ts';
import pg from 'pg';
import { DEFAULTS, databaseUrlFor, type Config, type KafkaSecurity } from './config.ts';

const KAFKAJS_MECHANISM = { 'SCRAM-SHA-512': 'scram-sha-512', 'SCRAM-SHA-256': 'scram-sha-256', PLAIN: 'plain' } as const;

/** kafkajs's `ssl` and `sasl` options for `security` (none for PLAINTEXT). */
export function kafkaSecurityOptions(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const tls = security.protocol === 'SSL' || security.protocol === 'SASL_SSL';
  return {
    ...(tls ? { ssl: security.caFile ? { ca: [readFileSync(security.caFile, 'utf8')] } : true } : {}),
    ...(security.sasl
      ? { sasl: { mechanism: KAFKAJS_MECHANISM[security.sasl.mechanism], username: security.sasl.username, password: security.sasl.password } as SASLOptions }
      : {}),
  };
}

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
    ...kafkaSecurityOptions(config.kafkaSecurity),
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
/** The registry client's middleware type (mappersmith's own, seen through its CommonJS typings). */
type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

export function registryClient(config: Pick<Config, 'schemaRegistry'>): SchemaRegistry {
  const { url, username, password, caFile, timeoutMs = DEFAULTS.registryTimeoutMs } = config.schemaRegistry;
  return new SchemaRegistry({
    host: url,
    // Without it a request waits for ever on a registry that accepts and never answers, and with it
    // the batch being decoded; timed out, it fails (HTTP 400 "Timeout"), and the batch comes again.
    middlewares: [TimeoutMiddleware(timeoutMs) as unknown as RegistryMiddleware],
    ...(username === undefined ? {} : { auth: { username, password: password ?? '' } }),
    ...(caFile ? { agent: new HttpsAgent({ ca: readFileSync(caFile, 'utf8'), keepAlive: true }) } : {}),
  });
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
