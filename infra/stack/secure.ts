/**
 * What `stack up --secure` generates once, into the state directory: a certificate authority of
 * its own and a server certificate it signs (for 127.0.0.1 and localhost, which Kafka, the registry
 * and Postgres all present), and one password per component. Keys and passwords are readable by
 * their owner only. Clients trust the CA (core/config.ts points them at it); nothing here is
 * checked in or logged.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SECURE_FILE, secureMaterialPaths, type StackCredentials } from '../../core/config.ts';
import { StackError } from '../../core/errors.ts';
import { run, which } from './processes.ts';

const CERT_DAYS = 825;

const password = (): string => randomBytes(18).toString('base64url');

async function openssl(args: string[]): Promise<void> {
  const res = await run('openssl', args);
  if (res.code !== 0) throw new StackError('COMMAND_FAILED', `openssl ${args[0]} failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
}

/**
 * Creates whatever of the secured stack's material is missing (an existing CA, certificate or
 * password is kept, so clients that trust it keep working) and records the stack as secured.
 * A stack whose data was created without --secure cannot become secured: its database was set up
 * with the default password and its broker formatted without SCRAM users.
 */
export async function ensureSecureMaterial(stateDir: string): Promise<void> {
  const paths = secureMaterialPaths(stateDir);
  if (!existsSync(join(stateDir, SECURE_FILE)) && ['postgres', 'kafka'].some((c) => existsSync(join(stateDir, c)))) {
    throw new StackError(
      'STATE_INVALID',
      `the stack in ${stateDir} was created without --secure and cannot be secured in place (its database and broker were set up without TLS and generated passwords): use another SAGALINE_STATE_DIR, or remove that directory while the stack is down`,
    );
  }
  if (!which('openssl')) throw new StackError('MISSING_BINARY', 'openssl not found: `stack up --secure` generates its certificates with it (install the openssl package)');
  // The state directory itself stays traversable (the postgres user reaches its data through it).
  mkdirSync(stateDir, { recursive: true });
  mkdirSync(paths.tlsDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(paths.credentialsFile), { recursive: true, mode: 0o700 });
  if (!existsSync(paths.caFile) || !existsSync(paths.caKeyFile)) {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths.caKeyFile, '-out', paths.caFile, '-days', String(CERT_DAYS),
      '-subj', '/CN=sagaline local stack CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }
  if (!existsSync(paths.certFile) || !existsSync(paths.keyFile)) {
    const csr = join(paths.tlsDir, 'server.csr');
    const ext = join(paths.tlsDir, 'server.ext');
    writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
    // An unencrypted PKCS#8 key: what Kafka's PEM key store, Quarkus and Postgres all read.
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths.keyFile, '-out', csr, '-subj', '/CN=localhost']);
    await openssl(['x509', '-req', '-in', csr, '-CA', paths.caFile, '-CAkey', paths.caKeyFile, '-CAcreateserial', '-out', paths.certFile, '-days', String(CERT_DAYS), '-extfile', ext]);
  }
  for (const key of [paths.caKeyFile, paths.keyFile]) chmodSync(key, 0o600);
  if (!existsSync(paths.credentialsFile)) {
    const credentials: StackCredentials = { postgres: password(), kafka: password(), registry: password() };
    writeFileSync(paths.credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  }
  chmodSync(paths.credentialsFile, 0o600);
  writeFileSync(join(stateDir, SECURE_FILE), 'the stack was started with --secure\n');
}
