import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { BROKERS_FILE, CONNECT_WORKERS_FILE, DEFAULTS, PROJECT_ROOT, SECURE_FILE, databaseUrlFor, defaultStateDir, loadConfig, secureMaterialPaths } from './config.ts';
import { mkdirSync } from 'node:fs';

describe('loadConfig', () => {
  it('given three brokers, by variable or as `stack up --brokers 3` recorded them, then clients get every node, ports two apart', () => {
    const byVariable = loadConfig({ SAGALINE_BROKERS: '3' });
    expect(byVariable.stack.brokers).toBe(3);
    expect(byVariable.kafkaBrokers).toEqual([0, 2, 4].map((d) => `127.0.0.1:${DEFAULTS.kafkaPort + d}`));
    const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-config-'));
    try {
      writeFileSync(join(stateDir, BROKERS_FILE), '3\n');
      expect(loadConfig({ SAGALINE_STATE_DIR: stateDir }).kafkaBrokers).toHaveLength(3);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    expect(() => loadConfig({ SAGALINE_BROKERS: '2' })).toThrow(ConfigError);
    expect(() => loadConfig({ SAGALINE_BROKERS: '2' })).toThrow(/1 or 3 Kafka brokers, got "2"/);
  });

  it('given two Connect workers, by variable or as `stack up --connect-workers 2` recorded them, then clients get every worker, ports two apart', () => {
    const byVariable = loadConfig({ SAGALINE_CONNECT_WORKERS: '2' });
    expect(byVariable.stack.connectWorkers).toBe(2);
    expect(byVariable.connectUrls).toEqual([0, 2].map((d) => `http://127.0.0.1:${DEFAULTS.connectPort + d}`));
    expect(byVariable.connectUrl).toBe(`http://127.0.0.1:${DEFAULTS.connectPort}`);
    const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-config-'));
    try {
      writeFileSync(join(stateDir, CONNECT_WORKERS_FILE), '2\n');
      expect(loadConfig({ SAGALINE_STATE_DIR: stateDir }).connectUrls).toHaveLength(2);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    expect(() => loadConfig({ SAGALINE_CONNECT_WORKERS: '4' })).toThrow(/1 to 3 Kafka Connect workers, got "4"/);
    // Worker 2's port must not land on another component's
    expect(() => loadConfig({ SAGALINE_CONNECT_WORKERS: '2', SAGALINE_REGISTRY_PORT: String(DEFAULTS.connectPort + 2) })).toThrow(/ports of registry and connect worker 2 are both/);
  });

  it('given CONNECT_URL naming several workers of an external Connect cluster, then each is kept, the first as connectUrl', () => {
    const config = loadConfig({ KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://db/a', SCHEMA_REGISTRY_URL: 'http://r', CONNECT_URL: 'http://c1:8083, http://c2:8083/' });
    expect(config.connectUrls).toEqual(['http://c1:8083', 'http://c2:8083']);
    expect(config.connectUrl).toBe('http://c1:8083');
    expect(() => loadConfig({ KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://db/a', SCHEMA_REGISTRY_URL: 'http://r', CONNECT_URL: 'http://c1, ftp://c2' })).toThrow(/CONNECT_URL must use http: or https:/);
  });

  it('defaults to the local stack on its own ports', () => {
    const config = loadConfig({});
    expect(config.mode).toBe('local');
    expect(config.kafkaBrokers).toEqual([`127.0.0.1:${DEFAULTS.kafkaPort}`]);
    expect(config.databaseUrl).toBe(`postgres://sagaline:sagaline@127.0.0.1:${DEFAULTS.postgresPort}/sagaline`);
    expect(config.schemaRegistryUrl).toBe(`http://127.0.0.1:${DEFAULTS.registryPort}/apis/ccompat/v7`);
    expect(config.connectUrl).toBe(`http://127.0.0.1:${DEFAULTS.connectPort}`);
    expect(config.connectUrls).toEqual([config.connectUrl]);
    expect(config.stack.connectWorkers).toBe(1);
    expect(config.stack.ports.postgres).not.toBe(5432); // the machine's own Postgres is not ours
  });

  it('given no batch size for Debezium, then the connector template\'s stands; given one, it is taken; given one Debezium\'s queue cannot hold, it is refused by name', () => {
    expect(loadConfig({}).debeziumMaxBatchSize).toBeUndefined();
    expect(loadConfig({ SAGALINE_DEBEZIUM_MAX_BATCH_SIZE: '2048' }).debeziumMaxBatchSize).toBe(2048);
    expect(() => loadConfig({ SAGALINE_DEBEZIUM_MAX_BATCH_SIZE: '8192' })).toThrow(/SAGALINE_DEBEZIUM_MAX_BATCH_SIZE must be below Debezium's queue size 8192/);
    expect(() => loadConfig({ SAGALINE_DEBEZIUM_MAX_BATCH_SIZE: '0' })).toThrow(ConfigError);
  });

  it('given nothing, provision registers the connectors; given SAGALINE_PROVISION_CONNECTORS=false, it leaves them; given anything else, it is refused by name', () => {
    expect(loadConfig({}).provisionConnectors).toBe(true);
    expect(loadConfig({ SAGALINE_PROVISION_CONNECTORS: 'false' }).provisionConnectors).toBe(false);
    expect(() => loadConfig({ SAGALINE_PROVISION_CONNECTORS: 'no' })).toThrow(/SAGALINE_PROVISION_CONNECTORS must be true or false, got "no"/);
  });

  it('given the local stack, then connectors get a file config provider reference to the password; SAGALINE_CONNECT_DB_PASSWORD must be a reference, not a password', () => {
    expect(loadConfig({ SAGALINE_STATE_DIR: '/srv/state' }).connectDatabasePassword).toBe('${file:/srv/state/secrets/connect.properties:database.password}');
    expect(loadConfig({ SAGALINE_CONNECT_DB_PASSWORD: '${env:PGPASSWORD}' }).connectDatabasePassword).toBe('${env:PGPASSWORD}');
    expect(() => loadConfig({ SAGALINE_CONNECT_DB_PASSWORD: 'hunter2' })).toThrow(/config provider reference/);
    const external = { KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://u:p@db:5432/postgres', SCHEMA_REGISTRY_URL: 'http://r:8081', CONNECT_URL: 'http://c:8083' };
    expect(loadConfig(external).connectDatabasePassword).toBeUndefined();
    expect(loadConfig({ ...external, SAGALINE_CONNECT_DB_PASSWORD: '${file:/etc/kafka/db.properties:password}' }).connectDatabasePassword).toBe('${file:/etc/kafka/db.properties:password}');
  });

  it('given SAGALINE_HTTP_HOST, then the HTTP servers listen on that interface', () => {
    expect(loadConfig({ SAGALINE_HTTP_HOST: '0.0.0.0' }).api.host).toBe('0.0.0.0');
  });

  it('puts the HTTP API and the processors\' metrics on loopback ports, movable by variables', () => {
    expect(loadConfig({}).api).toEqual({ host: '127.0.0.1', port: DEFAULTS.apiPort, auth: 'tokens' });
    expect(loadConfig({}).processorMetricsPortBase).toBe(DEFAULTS.processorMetricsPortBase);
    const moved = loadConfig({ SAGALINE_API_PORT: '59080', SAGALINE_METRICS_PORT_BASE: '59100' });
    expect(moved.api.port).toBe(59080);
    expect(moved.processorMetricsPortBase).toBe(59100);
  });

  it('uses an external stack when all four endpoints are given', () => {
    const config = loadConfig({
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      DATABASE_URL: 'postgres://u:p@db:5432/app',
      SCHEMA_REGISTRY_URL: 'http://reg:8081/',
      CONNECT_URL: 'http://connect:8083',
    });
    expect(config.mode).toBe('external');
    expect(config.kafkaBrokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.schemaRegistryUrl).toBe('http://reg:8081');
  });

  describe('secured connections', () => {
    const external = { KAFKA_BROKERS: 'k:9093', DATABASE_URL: 'postgres://u:p@db:5432/app', SCHEMA_REGISTRY_URL: 'https://reg:8081', CONNECT_URL: 'http://connect:8083' };

    it('given nothing about security, then Kafka is PLAINTEXT and the registry a bare URL', () => {
      const config = loadConfig(external);
      expect(config.kafkaSecurity).toEqual({ protocol: 'PLAINTEXT' });
      expect(config.schemaRegistry).toEqual({ url: 'https://reg:8081', timeoutMs: DEFAULTS.registryTimeoutMs });
    });

    it('given SASL_SSL with SCRAM, a CA file and registry credentials, then every client gets them', () => {
      const dir = mkdtempSync(join(tmpdir(), 'sagaline-config-'));
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, 'pem');
      try {
        const config = loadConfig({
          ...external,
          SAGALINE_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
          SAGALINE_KAFKA_SASL_MECHANISM: 'scram-sha-256',
          SAGALINE_KAFKA_SASL_USERNAME: 'svc',
          SAGALINE_KAFKA_SASL_PASSWORD: 'pw',
          SAGALINE_KAFKA_SSL_CA_FILE: ca,
          SAGALINE_REGISTRY_USERNAME: 'reg-user',
          SAGALINE_REGISTRY_PASSWORD: 'reg-pw',
          SAGALINE_REGISTRY_CA_FILE: ca,
        });
        expect(config.kafkaSecurity).toEqual({ protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-256', username: 'svc', password: 'pw' }, caFile: ca });
        expect(config.schemaRegistry).toEqual({ url: 'https://reg:8081', timeoutMs: DEFAULTS.registryTimeoutMs, username: 'reg-user', password: 'reg-pw', caFile: ca });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it.each([
      [{ SAGALINE_KAFKA_SECURITY_PROTOCOL: 'TLS' }, /SAGALINE_KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got "TLS"/],
      [{ SAGALINE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', SAGALINE_KAFKA_SASL_USERNAME: 'u' }, /SASL needs SAGALINE_KAFKA_SASL_USERNAME and SAGALINE_KAFKA_SASL_PASSWORD/],
      [{ SAGALINE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', SAGALINE_KAFKA_SASL_MECHANISM: 'GSSAPI', SAGALINE_KAFKA_SASL_USERNAME: 'u', SAGALINE_KAFKA_SASL_PASSWORD: 'p' }, /SAGALINE_KAFKA_SASL_MECHANISM must be one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, got "GSSAPI"/],
      [{ SAGALINE_KAFKA_SASL_USERNAME: 'u' }, /SAGALINE_KAFKA_SASL_USERNAME set but SAGALINE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT/],
      [{ SAGALINE_KAFKA_SECURITY_PROTOCOL: 'SSL', SAGALINE_KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, /SAGALINE_KAFKA_SSL_CA_FILE names \/nonexistent\/ca.pem, which does not exist/],
      [{ SAGALINE_REGISTRY_USERNAME: 'u' }, /basic auth to the registry needs both SAGALINE_REGISTRY_USERNAME and SAGALINE_REGISTRY_PASSWORD/],
      [{ SCHEMA_REGISTRY_URL: 'https://u:p@reg:8081' }, /SCHEMA_REGISTRY_URL must not carry credentials/],
      [{ DATABASE_URL: 'postgres://u:p@db/app?sslmode=always' }, /DATABASE_URL: sslmode must be one of disable, prefer, require, verify-ca, verify-full, got "always"/],
      [{ DATABASE_URL: 'postgres://u:p@db/app?sslmode=verify-full&sslrootcert=/nonexistent/root.crt' }, /DATABASE_URL: sslrootcert names \/nonexistent\/root.crt, which does not exist/],
    ])('refuses %o by name', (vars, message) => {
      expect(() => loadConfig({ ...external, ...vars })).toThrow(ConfigError);
      expect(() => loadConfig({ ...external, ...vars })).toThrow(message);
    });

    it('given a stack recorded as secured, then clients get SASL_SSL, https with basic auth and verify-full against its CA, with its generated passwords; without them, a clear error', () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-secure-config-'));
      try {
        writeFileSync(join(stateDir, SECURE_FILE), 'secured\n');
        expect(() => loadConfig({ SAGALINE_STATE_DIR: stateDir })).toThrow(/credentials are missing .*run `sagaline stack up --secure`/);
        const paths = secureMaterialPaths(stateDir);
        mkdirSync(join(stateDir, 'secrets'));
        writeFileSync(paths.credentialsFile, JSON.stringify({ postgres: 'pg-pw', kafka: 'kafka-pw', registry: 'reg-pw' }));
        const config = loadConfig({ SAGALINE_STATE_DIR: stateDir });
        expect(config.stack.secure).toBe(true);
        expect(config.kafkaSecurity).toEqual({ protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-512', username: 'sagaline', password: 'kafka-pw' }, caFile: paths.caFile });
        expect(config.schemaRegistry).toEqual({ url: `https://127.0.0.1:${DEFAULTS.registryPort}/apis/ccompat/v7`, timeoutMs: DEFAULTS.registryTimeoutMs, username: 'sagaline', password: 'reg-pw', caFile: paths.caFile });
        const db = new URL(config.databaseUrl);
        expect([db.password, db.searchParams.get('sslmode'), db.searchParams.get('sslrootcert')]).toEqual(['pg-pw', 'verify-full', paths.caFile]);
        // The database URL of another database keeps the TLS parameters
        expect(new URL(databaseUrlFor(config, 'other')).searchParams.get('sslmode')).toBe('verify-full');
        expect(loadConfig({ SAGALINE_STATE_DIR: stateDir, SAGALINE_KAFKA_SASL_MECHANISM: 'PLAIN' }).kafkaSecurity.sasl?.mechanism).toBe('PLAIN');
        expect(loadConfig({ SAGALINE_STATE_DIR: stateDir, SAGALINE_SECURE: 'false' }).kafkaSecurity).toEqual({ protocol: 'PLAINTEXT' });
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
      }
    });
  });

  it('refuses a half-given external stack, naming what is missing', () => {
    expect(() => loadConfig({ KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://db/app' })).toThrow(
      /set SCHEMA_REGISTRY_URL, CONNECT_URL too, or unset KAFKA_BROKERS, DATABASE_URL/,
    );
  });

  it.each([
    [{ SAGALINE_PG_PORT: 'abc' }, /SAGALINE_PG_PORT must be a TCP port between 1 and 65535, got "abc"/],
    [{ SAGALINE_KAFKA_PORT: '70000' }, /SAGALINE_KAFKA_PORT must be a TCP port/],
    [{ SAGALINE_CONNECT_PORT: String(DEFAULTS.registryPort) }, /ports of connect and registry are both 28081/],
    [{ SAGALINE_KAFKA_HEAP_MB: '-1' }, /SAGALINE_KAFKA_HEAP_MB must be a positive integer/],
    [{ SAGALINE_API_PORT: '0' }, /SAGALINE_API_PORT must be a TCP port between 1 and 65535, got "0"/],
    [{ SAGALINE_METRICS_PORT_BASE: 'x' }, /SAGALINE_METRICS_PORT_BASE must be a TCP port/],
    [{ SAGALINE_API_PORT: String(DEFAULTS.kafkaPort) }, /ports of kafka and api are both 29092/],
    [
      { KAFKA_BROKERS: 'nohostport', DATABASE_URL: 'postgres://db/a', SCHEMA_REGISTRY_URL: 'http://r', CONNECT_URL: 'http://c' },
      /KAFKA_BROKERS entries must be host:port, got "nohostport"/,
    ],
    [
      { KAFKA_BROKERS: 'k:1', DATABASE_URL: 'mysql://db/a', SCHEMA_REGISTRY_URL: 'http://r', CONNECT_URL: 'http://c' },
      /DATABASE_URL must use postgres: or postgresql:/,
    ],
  ])('rejects %o with a ConfigError naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("keeps the stack's state in the project: the checkout's own, or the one that installed the package, never in node_modules", () => {
    expect(loadConfig({}).stack.stateDir).toBe(join(PROJECT_ROOT, '.sagaline'));
    expect(defaultStateDir('/home/me/sagaline')).toBe('/home/me/sagaline/.sagaline');
    expect(defaultStateDir('/home/me/shop/node_modules/sagaline')).toBe('/home/me/shop/.sagaline');
    expect(defaultStateDir('/home/me/shop/node_modules/.pnpm/sagaline@0.1.0/node_modules/sagaline')).toBe('/home/me/shop/.sagaline');
    expect(loadConfig({ SAGALINE_STATE_DIR: '/var/tmp/stack' }).stack.stateDir).toBe('/var/tmp/stack');
  });

  it('points another database at the same server', () => {
    expect(databaseUrlFor(loadConfig({}), 'model_service')).toBe(`postgres://sagaline:sagaline@127.0.0.1:${DEFAULTS.postgresPort}/model_service`);
  });
});
