/**
 * `sagaline provision`: everything the pipeline needs on a running stack, idempotently —
 * source databases with their outbox tables, the catalogue's topics, the topics' value schemas,
 * and (with SAGALINE_RELAY=debezium) one outbox connector per source database.
 *
 * Every check that can fail runs before anything is changed.
 */
import pg from 'pg';
import { kafkaClient } from '../core/clients.ts';
import { databaseUrlFor, redactUrl, type Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { recordSources } from '../outbox-connector/sources-registry.ts';
import { loadConnectorDefinitions, prepareSourceDatabase, renderConnectorConfig, type ConnectorDefinition } from '../outbox-connector/connectors.ts';
import { ensureOutboxConnector, type OutboxConnectorHandle } from '../outbox-connector/provision.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { registerTopicSchema, type SchemaRegistration } from '../schemas/registration.ts';
import { catalogue, EVENT_LOG_TOPICS, topicForAggregateType } from '../topics/catalogue.ts';
import { provisionTopics, type TopicChange } from '../topics/provision.ts';

export class ProvisionError extends SagalineError {
  constructor(message: string) {
    super('PROVISION_INVALID', message);
  }
}

export interface ProvisionReport {
  relay: Config['relay'];
  databases: { name: string; change: 'created' | 'unchanged' }[];
  topics: TopicChange[];
  schemas: SchemaRegistration[];
  connectors: (OutboxConnectorHandle | { name: string; change: 'skipped'; reason: string })[];
  /** True when anything was created or changed. */
  changed: boolean;
}

/** A connector whose outbox could hold an aggregate type that routes outside the catalogue is refused. */
export function checkRoutes(definitions: readonly ConnectorDefinition[]): void {
  const known = new Set(EVENT_LOG_TOPICS.map((t) => t.name));
  for (const d of definitions) {
    for (const aggregateType of d.aggregateTypes) {
      const topic = topicForAggregateType(aggregateType);
      if (!known.has(topic)) {
        throw new ProvisionError(`connector ${d.name} could route aggregatetype "${aggregateType}" to topic ${topic}, which the topic catalogue (topics/catalogue.ts) lacks`);
      }
    }
  }
}

/** Creates `name` on DATABASE_URL's server unless it exists, connecting to the database DATABASE_URL names. */
export async function ensureDatabase(config: Config, name: string): Promise<'created' | 'unchanged'> {
  const admin = new pg.Client({ connectionString: config.databaseUrl });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount) return 'unchanged';
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
    return 'created';
  } catch (err) {
    throw new ProvisionError(`cannot create database ${name} on the server of DATABASE_URL (${redactUrl(config.databaseUrl)}): ${(err as Error).message}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

export async function provision(config: Config, log: (line: string) => void = () => undefined, definitions = loadConnectorDefinitions()): Promise<ProvisionReport> {
  checkRoutes(definitions);
  const contracts = loadContracts();
  const connect = new ConnectClient(config.connectUrl);
  if (config.relay === 'polling') {
    for (const d of definitions) {
      if (await connect.status(d.name)) {
        throw new ProvisionError(
          `connector ${d.name} is registered but SAGALINE_RELAY=polling: both would publish every row; delete it (DELETE ${config.connectUrl}/connectors/${d.name}) or use SAGALINE_RELAY=debezium`,
        );
      }
    }
  }

  const databases: ProvisionReport['databases'] = [];
  for (const d of definitions) {
    const change = await ensureDatabase(config, d.database);
    const client = new pg.Client({ connectionString: databaseUrlFor(config, d.database) });
    await client.connect();
    try {
      await prepareSourceDatabase(client, d);
    } finally {
      await client.end();
    }
    databases.push({ name: d.database, change });
    if (change === 'created') log(`database ${d.database}: created`);
  }

  await recordSources(config, definitions);

  const admin = kafkaClient(config, 'sagaline-provision').admin();
  await admin.connect();
  let topics: TopicChange[];
  try {
    topics = await provisionTopics(admin, catalogue(definitions.map((d) => d.name)));
  } finally {
    await admin.disconnect();
  }
  for (const t of topics) if (t.change !== 'unchanged') log(`topic ${t.name}: ${t.change}${t.changes ? ` (${t.changes.join(', ')})` : ''}`);

  const schemas: SchemaRegistration[] = [];
  for (const topic of EVENT_LOG_TOPICS) {
    const registration = await registerTopicSchema(config.schemaRegistryUrl, contracts, topic);
    schemas.push(registration);
    if (registration.change !== 'unchanged') log(`schema ${registration.subject}: ${registration.change} (id ${registration.id})`);
  }

  const connectors: ProvisionReport['connectors'] = [];
  for (const d of definitions) {
    if (config.relay === 'polling') {
      connectors.push({ name: d.name, change: 'skipped', reason: 'SAGALINE_RELAY=polling: the polling relay publishes this database' });
      continue;
    }
    const rendered = renderConnectorConfig(d, config.connectDatabaseUrl);
    const handle = await ensureOutboxConnector(config.connectUrl, databaseUrlFor(config, d.database), rendered);
    connectors.push(handle);
    if (handle.change !== 'unchanged') log(`connector ${handle.name}: ${handle.change}; slot ${handle.slotName} active`);
  }

  const changed =
    databases.some((d) => d.change !== 'unchanged') ||
    topics.some((t) => t.change !== 'unchanged') ||
    schemas.some((s) => s.change !== 'unchanged') ||
    connectors.some((c) => c.change === 'created' || c.change === 'updated');
  return { relay: config.relay, databases, topics, schemas, connectors, changed };
}
