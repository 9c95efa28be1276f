/**
 * One readiness probe per kind of component, by address only, so the same checks serve the
 * local stack and a stack the user brings. Each resolves to undefined when healthy, else a reason.
 */
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { KafkaSecurity, RegistryEndpoint } from '../../core/config.ts';
import { kafkaSecurityOptions } from '../../core/clients.ts';
import { registryRequest } from '../../schemas/registry-api.ts';
import { httpOk } from './component.ts';

export const POSTGRES_CONNECTOR_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

const reason = (err: unknown) => (err instanceof Error ? err.message || err.name : String(err));

export async function probePostgres(databaseUrl: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return reason(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Healthy once `expected` brokers (default: at least one) are registered with the cluster. */
export async function probeKafka(brokers: string[], expected = 1, security: KafkaSecurity = { protocol: 'PLAINTEXT' }): Promise<string | undefined> {
  const admin = new Kafka({ clientId: 'sagaline-probe', brokers, ...kafkaSecurityOptions(security), logLevel: logLevel.NOTHING, connectionTimeout: 2_000, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) return 'no broker registered yet';
    return cluster.brokers.length >= expected ? undefined : `${cluster.brokers.length} of ${expected} brokers registered`;
  } catch (err) {
    return reason(err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Connect is ready for us once its REST API lists the Debezium PostgreSQL connector plugin. */
export async function probeConnect(connectUrl: string): Promise<string | undefined> {
  try {
    const plugins = await httpOk(`${connectUrl}/connector-plugins`);
    if (!plugins.ok) return `GET /connector-plugins answered ${plugins.status}`;
    return plugins.body.includes(POSTGRES_CONNECTOR_CLASS) ? undefined : 'Debezium PostgresConnector is not among its plugins';
  } catch (err) {
    return reason(err);
  }
}

/** The Confluent-compatible API answers: GET /subjects. */
export async function probeRegistry(registry: RegistryEndpoint | string): Promise<string | undefined> {
  try {
    const subjects = await registryRequest(registry, 'GET', '/subjects', { timeoutMs: 2_000 });
    return subjects.status === 200 ? undefined : `GET /subjects answered ${subjects.status}`;
  } catch (err) {
    return reason(err);
  }
}
