/** What provisioning shares: its error, and creating a database on the configured server. */
import pg from 'pg';
import { redactUrl, type Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';

export class ProvisionError extends SagalineError {
  constructor(message: string) {
    super('PROVISION_INVALID', message);
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

