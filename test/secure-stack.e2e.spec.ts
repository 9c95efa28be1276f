/**
 * The secured stack (`stack up --secure`) on a state directory and ports of its own: Kafka over
 * SASL_SSL (SCRAM-SHA-512 and PLAIN), the registry over https with basic auth, Postgres refusing
 * connections without TLS. Each component refuses a client without TLS or with wrong credentials
 * and takes the configured one; then the demo's sagas run on it end to end (outbox rows through
 * Debezium over verified TLS to Kafka over SASL_SSL, schemas through the secured registry, the
 * HTTP API with a token); and no log of the run holds a password or the token.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSecurityOptions } from '../core/clients.ts';
import { loadConfig, secureMaterialPaths, type Config, type StackCredentials } from '../core/config.ts';
import { probePostgres, probeRegistry } from '../infra/stack/health.ts';
import { freePortRange, isolatedStackEnv, npmStart, sagaline, type CliResult } from './support/cli.ts';
import { logFiles, secretsIn } from './support/logs.ts';

const CONFIG = ['--config', 'examples/ml-training/sagaline.config.ts'];
const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-secure-'));
chmodSync(stateDir, 0o755); // the postgres system user must be able to traverse it
let env: Record<string, string>;
let config: Config;
let up: CliResult;

/** Lists the topics as a client with `security`; resolves to the error's name and message when refused. */
async function listTopicsAs(brokers: string[], options: ReturnType<typeof kafkaSecurityOptions>): Promise<string[] | string> {
  const admin = new Kafka({ clientId: 'secure-stack-test', brokers, ...options, logLevel: logLevel.NOTHING, connectionTimeout: 5_000, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    return await admin.listTopics();
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The end of each log of the stack and its processes: what a failure needs to be understood. */
function printLogs(): void {
  for (const file of existsSync(stateDir) ? logFiles(stateDir) : []) {
    const tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-40).join('\n');
    process.stderr.write(`--- ${file.slice(stateDir.length + 1)} (last 40 lines) ---\n${tail}\n`);
  }
}

describe('the secured stack (stack up --secure)', () => {
  beforeAll(async () => {
    const base = await freePortRange(7);
    env = { ...(await isolatedStackEnv(stateDir)), SAGALINE_API_PORT: String(base), SAGALINE_METRICS_PORT_BASE: String(base + 1) };
    // Given a secured stack started from nothing
    up = await sagaline(['stack', 'up', '--secure'], env, 400_000);
    expect(up.code, up.stderr).toBe(0);
    config = loadConfig({ ...process.env, ...env });
  }, 420_000);

  afterEach(({ task }) => {
    if (task.result?.state === 'fail') printLogs();
  });

  afterAll(async () => {
    if (env) {
      await sagaline(['processors', 'down', ...CONFIG], env);
      await sagaline(['stack', 'down'], env);
    }
    rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('given the secured stack, then its configuration is SASL_SSL, https with basic auth and Postgres with verify-full, from generated material only its owner reads', () => {
    expect(config.stack.secure).toBe(true);
    expect(config.kafkaSecurity).toMatchObject({ protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-512', username: 'sagaline' } });
    expect(config.schemaRegistry.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7$/);
    expect(config.schemaRegistry.username).toBe('sagaline');
    expect(new URL(config.databaseUrl).searchParams.get('sslmode')).toBe('verify-full');
    const material = secureMaterialPaths(stateDir);
    for (const secret of [material.credentialsFile, material.keyFile, material.caKeyFile]) {
      expect(statSync(secret).mode & 0o077, secret).toBe(0);
    }
    expect(up.stderr).toContain('registry: ready at https://127.0.0.1:');
  });

  it('given the secured Kafka, when a client comes without TLS, with a wrong password, or with SCRAM-SHA-512 or PLAIN and the right one, then only the last two get in', async () => {
    const { kafkaBrokers, kafkaSecurity } = config;
    const plain = await listTopicsAs(kafkaBrokers, {});
    expect(plain).toEqual(expect.any(String));
    const tlsOnly = await listTopicsAs(kafkaBrokers, kafkaSecurityOptions({ protocol: 'SSL', caFile: kafkaSecurity.caFile! }));
    expect(tlsOnly).toEqual(expect.any(String));
    const wrong = await listTopicsAs(kafkaBrokers, kafkaSecurityOptions({ ...kafkaSecurity, sasl: { ...kafkaSecurity.sasl!, password: 'not-the-password' } }));
    expect(wrong).toMatch(/KafkaJSSASLAuthenticationError: .*invalid credentials/);
    const untrusted = await listTopicsAs(kafkaBrokers, kafkaSecurityOptions({ ...kafkaSecurity, caFile: undefined }));
    expect(untrusted).toMatch(/certificate/i);
    const scram = await listTopicsAs(kafkaBrokers, kafkaSecurityOptions(kafkaSecurity));
    expect(scram).toEqual(expect.arrayContaining(['_sagaline-connect-configs']));
    const viaPlain = loadConfig({ ...process.env, ...env, SAGALINE_KAFKA_SASL_MECHANISM: 'PLAIN' });
    expect(viaPlain.kafkaSecurity.sasl?.mechanism).toBe('PLAIN');
    expect(await listTopicsAs(kafkaBrokers, kafkaSecurityOptions(viaPlain.kafkaSecurity))).toEqual(scram);
  });

  it('given the secured registry and Postgres, when a client comes without credentials or TLS, then each refuses it, and takes the configured client', async () => {
    const { schemaRegistry, databaseUrl } = config;
    expect(await probeRegistry({ url: schemaRegistry.url, caFile: schemaRegistry.caFile! })).toMatch(/HTTP 401.*SAGALINE_REGISTRY_USERNAME/);
    expect(await probeRegistry({ ...schemaRegistry, password: 'not-the-password' })).toMatch(/HTTP 401/);
    expect(await probeRegistry({ ...schemaRegistry, caFile: undefined })).toMatch(/unreachable.*certificate/i);
    expect(await probeRegistry(schemaRegistry.url.replace('https:', 'http:'))).toMatch(/unreachable/);
    expect(await probeRegistry(schemaRegistry)).toBeUndefined();

    const withParams = (params: Record<string, string | null>) => {
      const url = new URL(databaseUrl);
      for (const [k, v] of Object.entries(params)) v === null ? url.searchParams.delete(k) : url.searchParams.set(k, v);
      return url.toString();
    };
    expect(await probePostgres(withParams({ sslmode: 'disable', sslrootcert: null }))).toMatch(/no encryption/);
    expect(await probePostgres(withParams({ sslrootcert: null }))).toMatch(/certificate/i);
    expect(await probePostgres(databaseUrl)).toBeUndefined();
  });

  it('given the secured stack, when the demo runs sagas on it, then they end as planned, and no log holds a password or the token', async () => {
    // When the demo runs three sagas: ok, fail at ALLOCATE (compensated), ok
    const demo = await npmStart(['--sagas', '3', '--json'], env, 600_000);
    expect(demo.code, demo.stderr).toBe(0);
    const result = JSON.parse(demo.stdout) as { byStatus: Record<string, number>; token: string; results: { sagaId: string; status: string; expected: string }[] };
    expect(result.byStatus).toEqual({ Completed: 2, Compensated: 1 });
    for (const r of result.results) expect(r.status, r.sagaId).toBe(r.expected);
    // And the HTTP API answers with the token, and only with it
    const saga = result.results[0]!.sagaId;
    const api = `http://127.0.0.1:${env.SAGALINE_API_PORT}`;
    expect((await fetch(`${api}/sagas/${saga}`)).status).toBe(401);
    expect((await fetch(`${api}/sagas/${saga}`, { headers: { authorization: `Bearer ${result.token}` } })).status).toBe(200);
    // And the compensated saga's history reads back from the secured log (the log reader's own fetches, over SASL_SSL)
    const compensated = result.results.find((r) => r.status === 'Compensated')!.sagaId;
    const audit = await sagaline(['audit', compensated, '--json', ...CONFIG], env);
    expect(audit.code, audit.stderr).toBe(0);
    const timeline = JSON.parse(audit.stdout) as { events: { type: string }[]; state: { status: string } };
    expect(timeline.state.status).toBe('Compensated');
    expect(timeline.events.length).toBeGreaterThanOrEqual(4);

    // Then no log of the stack, of the processes or of the demo's progress holds a secret
    const credentials = JSON.parse(readFileSync(secureMaterialPaths(stateDir).credentialsFile, 'utf8')) as StackCredentials;
    const secrets = { 'postgres password': credentials.postgres, 'kafka password': credentials.kafka, 'registry password': credentials.registry, 'API token': result.token };
    const logs = logFiles(stateDir);
    expect(logs.map((f) => f.slice(stateDir.length + 1))).toEqual(expect.arrayContaining(['logs/kafka.log', 'logs/connect.log', 'logs/registry.log', 'logs/api.log', 'postgres/postgres.log', 'logs/processor-model-training-saga-monitor.log']));
    const found = secretsIn(logs, secrets);
    for (const [what, value] of Object.entries(secrets)) if ([demo.stderr, up.stderr, up.stdout, audit.stderr, audit.stdout].some((out) => out.includes(value))) found.push(`${what} in the CLI's output`);
    expect(found).toEqual([]);
    expect(existsSync(join(stateDir, 'logs', 'api.log'))).toBe(true);
  }, 600_000);
});
