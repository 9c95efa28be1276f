import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { BROKERS_FILE, CONNECT_WORKERS_FILE, DEFAULTS, PROJECT_ROOT, databaseUrlFor, defaultStateDir, loadConfig } from './config.ts';

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
