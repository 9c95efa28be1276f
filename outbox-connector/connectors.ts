/**
 * The outbox connectors: one Debezium configuration (outbox-connector/connector-template.json,
 * with {{PLACEHOLDERS}} for what depends on where it runs and on the source) rendered for each
 * source database that provisioning derives from the sagas' definitions (infra/provision-sagas.ts,
 * outboxSources: the database and the aggregate types its outbox may hold). The connector is named
 * after its database.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PROJECT_ROOT } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { ConnectorConfig } from './connect-client.ts';
import { createOutboxTable } from './outbox-table.ts';

// The template ships beside the sources (not in dist/): found from the package root.
const HERE = join(PROJECT_ROOT, 'outbox-connector');
export const CONNECTOR_TEMPLATE_FILE = join(HERE, 'connector-template.json');
export const HEARTBEAT_TABLE = 'sagaline_heartbeat';

export interface ConnectorDefinition {
  name: string;
  database: string;
  aggregateTypes: string[];
  config: ConnectorConfig;
}

export interface OutboxSource {
  database: string;
  aggregateTypes: string[];
}

/** `billing_service` → `billing-service-outbox`. */
export function connectorNameFor(database: string): string {
  return `${database.replace(/_/g, '-')}-outbox`;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The template rendered for one source (a database and the aggregate types its outbox may hold); placeholders still in: `renderConnectorConfig` fills them. */
export function connectorForSource(source: OutboxSource, templateFile = CONNECTOR_TEMPLATE_FILE): ConnectorDefinition {
  const template = readJson(templateFile) as { config?: ConnectorConfig };
  if (!template.config || typeof template.config !== 'object') throw new ConfigError(`${templateFile} needs a config object`);
  return { name: connectorNameFor(source.database), database: source.database, aggregateTypes: [...source.aggregateTypes], config: { ...template.config } };
}

/** Slot and publication name derived from the connector name (Postgres identifiers: [a-z0-9_], ≤ 63). */
export function slotNameFor(connectorName: string): string {
  return `sagaline_${connectorName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Fills the placeholders. `connectDatabaseUrl` is how Connect reaches Postgres; `passwordReference`
 * (config.connectDatabasePassword: `${file:…}`, `${env:…}`) goes where the password would, for
 * Connect's config providers to resolve in the worker; without one the URL's password is written.
 * `overrides` lets tests run a definition against their own database under their own connector name.
 */
export function renderConnectorConfig(
  definition: ConnectorDefinition,
  connectDatabaseUrl: string,
  overrides: { name?: string; database?: string } = {},
  passwordReference?: string,
): { name: string; database: string; slotName: string; config: ConnectorConfig } {
  const url = new URL(connectDatabaseUrl);
  const name = overrides.name ?? definition.name;
  const database = overrides.database ?? definition.database;
  const slotName = slotNameFor(name);
  const values: Record<string, string> = {
    DATABASE_HOST: url.hostname,
    DATABASE_PORT: url.port || '5432',
    DATABASE_USER: decodeURIComponent(url.username),
    DATABASE_PASSWORD: passwordReference ?? decodeURIComponent(url.password),
    DATABASE_NAME: database,
    CONNECTOR_NAME: name,
    CONNECTOR_NAME_REGEX: escapeRegex(name),
    SLOT_NAME: slotName,
  };
  const config: ConnectorConfig = {};
  for (const [key, value] of Object.entries(definition.config)) {
    config[key] = value.replace(/\{\{([A-Z_]+)\}\}/g, (whole, placeholder: string) => {
      const filled = values[placeholder];
      if (filled === undefined) throw new ConfigError(`connector ${definition.name}: unknown placeholder ${whole} in ${key}`);
      return filled;
    });
  }
  // TLS to Postgres as DATABASE_URL asks it (libpq's names, which Debezium takes too).
  const sslmode = url.searchParams.get('sslmode');
  const sslrootcert = url.searchParams.get('sslrootcert');
  if (sslmode) config['database.sslmode'] = sslmode;
  if (sslrootcert) config['database.sslrootcert'] = sslrootcert;
  return { name, database, slotName, config };
}

/** The tables a connector expects in its database: the outbox (restricted to its aggregate types) and the heartbeat row. */
export async function prepareSourceDatabase(client: pg.ClientBase, definition: { aggregateTypes: readonly string[] }): Promise<void> {
  await createOutboxTable(client, 'outbox', definition.aggregateTypes);
  await client.query(`create table if not exists ${pg.escapeIdentifier(HEARTBEAT_TABLE)} (id int primary key, beat_at timestamptz not null)`);
}
