/**
 * Provisioning for defined sagas, derived from the definitions and participants it is given —
 * nothing hand-written: the engine's database and each participant's database with its outbox
 * (a check constraint admits only the aggregate types of its sagas), one event log and one
 * dead-letter topic per saga, each saga topic's value schema (the saga's messages and the engine's),
 * and one Debezium connector per database, rendered from the one template. Idempotent; every check
 * that can fail runs before anything changes.
 */
import pg from 'pg';
import { kafkaClient } from '../core/clients.ts';
import { databaseUrlFor, ENGINE_DATABASE, type Config } from '../core/config.ts';
import { recordSources, registeredSources } from '../outbox-connector/sources-registry.ts';
import { ConfigError } from '../core/errors.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { connectorForSource, connectorNameFor, prepareSourceDatabase, renderConnectorConfig } from '../outbox-connector/connectors.ts';
import { ensureOutboxConnector, type OutboxConnectorHandle } from '../outbox-connector/provision.ts';
import { MONITOR_DDL, SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import type { Participant } from '../processors/engine/participant.ts';
import { PARTICIPANT_DDL } from '../processors/engine/tables.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import type { Contracts } from '../schemas/contracts.ts';
import { registerTopicSchema, type SchemaRegistration } from '../schemas/registration.ts';
import { sagaContracts } from '../schemas/saga-contracts.ts';
import { heartbeatTopic } from '../topics/catalogue.ts';
import { aggregateTypeOf, byName, sagaTopic, sagaTopics, streamTopic, streamTopics } from '../topics/derived.ts';
import { provisionTopics, type TopicChange } from '../topics/provision.ts';
import { ensureDatabase, ProvisionError } from './provision.ts';

export interface SagaProvisionInput {
  sagas: readonly SagaDefinition[];
  participants: readonly Participant[];
  /** The project's schemas folder, or contracts already loaded. */
  schemas: string | Contracts;
  /** Event logs outside the sagas, by name → the messages they carry; every participant database's outbox admits them. */
  streams?: Readonly<Record<string, readonly string[]>>;
}

export interface SagaProvisionReport {
  databases: { name: string; change: 'created' | 'unchanged'; aggregateTypes: string[] }[];
  topics: TopicChange[];
  schemas: SchemaRegistration[];
  connectors: OutboxConnectorHandle[];
}

/** Which database's outbox holds which sagas' messages: the engine's holds all (starts, timeouts); each participant's, its saga's. */
export function outboxSources(input: Pick<SagaProvisionInput, 'sagas' | 'participants' | 'streams'>): { database: string; aggregateTypes: string[] }[] {
  const byDatabase = new Map<string, Set<string>>([[SAGAS_DATABASE, new Set(input.sagas.map(aggregateTypeOf))]]);
  for (const p of input.participants) {
    const set = byDatabase.get(p.database) ?? new Set<string>();
    set.add(aggregateTypeOf(p.saga));
    for (const stream of Object.keys(input.streams ?? {})) set.add(stream);
    byDatabase.set(p.database, set);
  }
  return [...byDatabase].map(([database, types]) => ({ database, aggregateTypes: [...types].sort() }));
}

export function checkSagaInput(input: SagaProvisionInput): Contracts {
  const problems: string[] = [];
  const names = new Map<string, SagaDefinition>();
  for (const s of input.sagas) {
    const key = `${s.name} v${s.version}`;
    const other = names.get(key);
    if (other && other !== s) problems.push(`saga ${key} is given twice; give each version once (an added step is a new version)`);
    names.set(key, s);
  }
  for (const stream of Object.keys(input.streams ?? {})) if (byName(input.sagas).has(stream)) problems.push(`stream ${stream} has the name of a saga: both would use topic ${streamTopic(stream, []).name}; rename the stream`);
  for (const p of input.participants) {
    if (!input.sagas.includes(p.saga)) problems.push(`participant ${p.service} runs saga ${p.saga.name} v${p.saga.version}, which is not among the sagas given`);
    if (p.database === SAGAS_DATABASE) problems.push(`participant ${p.service}: database ${SAGAS_DATABASE} is the engine's; give the service its own`);
  }
  if (problems.length > 0) throw new ConfigError(`cannot provision these sagas:\n  - ${problems.join('\n  - ')}`);
  const contracts = sagaContracts(input.schemas, input.sagas);
  for (const [stream, types] of Object.entries(input.streams ?? {})) {
    for (const type of types) if (!contracts.messages.has(type)) problems.push(`stream ${stream}: no schema defines message ${type}`);
  }
  if (problems.length > 0) throw new ConfigError(`cannot provision these sagas:\n  - ${problems.join('\n  - ')}`);
  return contracts;
}

export async function provisionSagas(config: Config, input: SagaProvisionInput, log: (line: string) => void = () => undefined): Promise<SagaProvisionReport> {
  const contracts = checkSagaInput(input);
  const sources = outboxSources(input);
  const connect = new ConnectClient(config.connectUrls);
  if (config.relay === 'polling') {
    for (const s of sources) {
      const name = connectorNameFor(s.database);
      if (await connect.status(name)) {
        throw new ProvisionError(`connector ${name} is registered but SAGALINE_RELAY=polling: both would publish every row of ${s.database}; delete it (DELETE ${config.connectUrl}/connectors/${name}) or use SAGALINE_RELAY=debezium`);
      }
    }
  }
  const ddlOf = (database: string): readonly string[] => [
    ...(database === SAGAS_DATABASE ? MONITOR_DDL : PARTICIPANT_DDL),
    ...input.participants.filter((p) => p.database === database).flatMap((p) => p.ddl),
  ];

  // What earlier provisioning admitted stays admitted: a database may also serve sagas another
  // project provisioned (one that has not run yet has no rows to show for it).
  const admitted = new Map((await registeredSources(config)).map((r) => [r.database, r.aggregateTypes]));
  const databases: SagaProvisionReport['databases'] = [];
  for (const source of sources) {
    const change = await ensureDatabase(config, source.database);
    const client = new pg.Client({ connectionString: databaseUrlFor(config, source.database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      // Rows already written stay admitted too (written before their database was recorded).
      const present = (await client.query<{ t: string | null }>("select to_regclass('public.outbox')::text as t")).rows[0]?.t
        ? (await client.query<{ aggregatetype: string }>('select distinct aggregatetype from outbox')).rows.map((r) => r.aggregatetype)
        : [];
      source.aggregateTypes = [...new Set([...source.aggregateTypes, ...(admitted.get(source.database) ?? []), ...present])].sort();
      await prepareSourceDatabase(client, source);
      for (const statement of ddlOf(source.database)) await client.query(statement);
    } finally {
      await client.end();
    }
    databases.push({ name: source.database, change, aggregateTypes: source.aggregateTypes });
    if (change === 'created') log(`database ${source.database}: created`);
  }

  await ensureDatabase(config, ENGINE_DATABASE);
  await recordSources(config, sources);

  const connectorDefinitions = sources.map((s) => connectorForSource(s));
  const admin = kafkaClient(config, 'sagaline-provision').admin();
  await admin.connect();
  let topics: TopicChange[];
  try {
    topics = await provisionTopics(admin, [...sagaTopics(input.sagas), ...streamTopics(input.streams ?? {}), ...connectorDefinitions.map((d) => heartbeatTopic(d.name))]);
  } finally {
    await admin.disconnect();
  }
  for (const t of topics) if (t.change !== 'unchanged') log(`topic ${t.name}: ${t.change}`);

  const schemas: SchemaRegistration[] = [];
  for (const topic of [...[...byName(input.sagas).values()].map((versions) => sagaTopic(versions)), ...streamTopics(input.streams ?? {})]) {
    const registration = await registerTopicSchema(config.schemaRegistry, contracts, topic);
    schemas.push(registration);
    if (registration.change !== 'unchanged') log(`schema ${registration.subject}: ${registration.change} (id ${registration.id})`);
  }

  const connectors: OutboxConnectorHandle[] = [];
  // With the polling relay, `sagaline relay` publishes the outboxes: no connector, no slot.
  // Nor where something else manages the connectors (SAGALINE_PROVISION_CONNECTORS=false: Strimzi's KafkaConnector resources).
  const provisioned = config.relay === 'debezium' && config.provisionConnectors ? connectorDefinitions : [];
  if (provisioned.length > 0 && config.connectDatabasePassword === undefined) {
    log('warning: the connectors are given the database password itself (Connect keeps it in its config topic); set SAGALINE_CONNECT_DB_PASSWORD to a config provider reference (${env:…}, ${file:…}) the workers resolve');
  }
  for (const d of provisioned) {
    const rendered = renderConnectorConfig(d, config.connectDatabaseUrl, {}, config.connectDatabasePassword);
    if (config.debeziumMaxBatchSize !== undefined) rendered.config['max.batch.size'] = String(config.debeziumMaxBatchSize);
    const handle = await ensureOutboxConnector(config.connectUrls, databaseUrlFor(config, d.database), rendered);
    connectors.push(handle);
    if (handle.change !== 'unchanged') log(`connector ${handle.name}: ${handle.change}; slot ${handle.slotName} active`);
  }
  return { databases, topics, schemas, connectors };
}
