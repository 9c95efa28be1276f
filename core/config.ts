/**
 * The one module that reads the environment. Every default lives here, with its unit in its name.
 * Everything else receives a `Config` (or a part of it) as an argument.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.ts';
import versionsJson from '../infra/versions.json' with { type: 'json' };

/** The package's root: above core/ in the sources, above dist/core/ in the built package. */
export const PROJECT_ROOT = ((up) => (basename(up) === 'dist' ? dirname(up) : up))(resolve(dirname(fileURLToPath(import.meta.url)), '..'));

export interface Versions {
  postgres: string;
  kafka: string;
  slf4jReload4j: string;
  debezium: string;
  apicurio: string;
  mavenDependencyPlugin: string;
}
export const VERSIONS: Versions = versionsJson;

export const DEFAULTS = {
  stateDirName: '.sagaline',
  // Every default port lies below Linux's ephemeral range (32768–60999): a client that keeps
  // reconnecting to a component while it is down could otherwise be handed that very port as its
  // own local port and connect to itself (seen: Connect self-connected on the broker's port during
  // a broker outage, and the broker could not start again).
  postgresPort: 25432,
  kafkaPort: 29092,
  kafkaControllerPort: 29093,
  connectPort: 28083,
  registryPort: 28081,
  registryManagementPort: 28091,
  kafkaHeapMb: 512,
  connectHeapMb: 768,
  registryHeapMb: 384,
  componentStartTimeoutMs: 180_000,
  componentStopTimeoutMs: 30_000,
  postgresUser: 'sagaline',
  postgresPassword: 'sagaline',
  /** sagaline's own database on the server: the sources registry, the two-phase commit log. */
  postgresDatabase: 'sagaline',
  registryDatabase: 'apicurio',
  logLevel: 'info',
  relay: 'debezium',
  relayBatchSize: 500,
  relayIdlePollMs: 100,
  /** Debezium mode: outbox rows the slot confirmed are deleted once older than this (outbox-connector/cleanup.ts). */
  outboxRetentionMs: 3_600_000,
  /** How often the saga monitor runs that cleanup (0: never; `sagaline outbox cleanup` runs it by hand). */
  outboxCleanupIntervalMs: 600_000,
  timerPollMs: 250,
  sessionTimeoutMs: 30_000,
  batchMaxMessages: 500,
  /** Every partition of a saga topic (topics/catalogue.ts EVENT_LOG_PARTITIONS) at once: see docs/performance.md. */
  partitionsConcurrently: 6,
  fetchMinBytes: 1,
  fetchMaxWaitMs: 5_000,
  commitIntervalMs: 1_000,
  apiHost: '127.0.0.1',
  apiPort: 28080,
  /** Process i of a project's plan (processors/supervisor.ts) serves its metrics on base + 1 + i. */
  processorMetricsPortBase: 28100,
  /** Outbox delivery: a connector without a heartbeat for this long is stalled; the delivery guard looks this often. */
  delivery: { stallAfterMs: 60_000, guardIntervalMs: 5_000 },
  /** Two-phase commit: phase-1 vote deadline, phase-2 retry pause, longest wait for a decision on a prepared transaction. */
  twoPhaseCommit: { prepareTimeoutMs: 5_000, retryIntervalMs: 500, decisionTimeoutMs: 60_000 },
  httpCallTimeoutMs: 10_000,
  /** One schema registry request: a registry that accepts a connection and never answers must not hold a consumer forever. */
  registryTimeoutMs: 30_000,
} as const;

/**
 * The local stack's state directory unless SAGALINE_STATE_DIR says otherwise. From a checkout of
 * this repository: its `.sagaline`. Installed as a dependency (the package lies in a node_modules
 * folder): `.sagaline` in the project that installed it, i.e. beside its outermost node_modules,
 * where `npx sagaline` runs. Never inside node_modules: npm replaces the package's folder on every
 * install, and a running database would go with it. Derived from where the package lies rather
 * than from the working directory, so a command run from a subfolder, and the processes sagaline
 * spawns with the package as their working directory (processors, the HTTP API), find the same stack.
 */
export function defaultStateDir(packageRoot: string = PROJECT_ROOT): string {
  const parts = packageRoot.split(sep);
  const installed = parts.indexOf('node_modules');
  const base = installed === -1 ? packageRoot : parts.slice(0, installed).join(sep) || sep;
  return join(base, DEFAULTS.stateDirName);
}

/** The file in the state directory where `stack up --brokers N` records N. */
export const BROKERS_FILE = 'brokers';

/** Kafka node i's broker and controller ports (from 0): the configured ports for node 0, two apart after it. */
export function kafkaNodePorts(ports: Pick<StackPorts, 'kafka' | 'kafkaController'>, i: number): { broker: number; controller: number } {
  return { broker: ports.kafka + 2 * i, controller: ports.kafkaController + 2 * i };
}

/** The file in the state directory where `stack up --connect-workers N` records N. */
export const CONNECT_WORKERS_FILE = 'connect-workers';

/** Connect worker i's REST port (from 0): the configured port for worker 0, two apart after it. */
export function connectWorkerPort(ports: Pick<StackPorts, 'connect'>, i: number): number {
  return ports.connect + 2 * i;
}

function connectWorkerCount(env: NodeJS.ProcessEnv, stateDir: string): number {
  const raw = env.SAGALINE_CONNECT_WORKERS || (existsSync(join(stateDir, CONNECT_WORKERS_FILE)) ? readFileSync(join(stateDir, CONNECT_WORKERS_FILE), 'utf8').trim() : '1');
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 3) {
    throw new ConfigError(`the local stack runs 1 to 3 Kafka Connect workers, got ${JSON.stringify(raw)} (${env.SAGALINE_CONNECT_WORKERS ? 'SAGALINE_CONNECT_WORKERS' : join(stateDir, CONNECT_WORKERS_FILE)})`);
  }
  return n;
}

/** The file in the state directory where `stack up --secure` records that this stack is secured. */
export const SECURE_FILE = 'secure';

function secureStack(env: NodeJS.ProcessEnv, stateDir: string): boolean {
  if (env.SAGALINE_SECURE !== undefined && env.SAGALINE_SECURE !== '') return booleanVar(env, 'SAGALINE_SECURE', false);
  return existsSync(join(stateDir, SECURE_FILE));
}

/** Where the secured local stack keeps what `stack up --secure` generates (infra/stack/secure.ts writes them). */
export function secureMaterialPaths(stateDir: string): { tlsDir: string; caFile: string; caKeyFile: string; certFile: string; keyFile: string; credentialsFile: string } {
  const tlsDir = join(stateDir, 'tls');
  return {
    tlsDir,
    caFile: join(tlsDir, 'ca.pem'),
    caKeyFile: join(tlsDir, 'ca.key'),
    certFile: join(tlsDir, 'server.pem'),
    keyFile: join(tlsDir, 'server.key'),
    credentialsFile: join(stateDir, 'secrets', 'credentials.json'),
  };
}

/** The secured local stack's passwords, one per component (every user is `sagaline`). */
export interface StackCredentials {
  postgres: string;
  kafka: string;
  registry: string;
}
export const SECURE_USER = 'sagaline';

function stackCredentials(stateDir: string): StackCredentials {
  const file = secureMaterialPaths(stateDir).credentialsFile;
  if (!existsSync(file)) throw new ConfigError(`this stack is secured (${join(stateDir, SECURE_FILE)}) but its credentials are missing (${file}): run \`sagaline stack up --secure\` to generate them`);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackCredentials>;
  for (const key of ['postgres', 'kafka', 'registry'] as const) {
    if (typeof parsed[key] !== 'string' || parsed[key] === '') throw new ConfigError(`${file} has no ${key} password`);
  }
  return parsed as StackCredentials;
}

function existingFile(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const path = isAbsolute(raw) ? raw : resolve(raw);
  if (!existsSync(path)) throw new ConfigError(`${name} names ${raw}, which does not exist`);
  return path;
}

/**
 * Kafka's security settings for a stack the user brings: SAGALINE_KAFKA_SECURITY_PROTOCOL
 * (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), SAGALINE_KAFKA_SASL_MECHANISM (SCRAM-SHA-512,
 * SCRAM-SHA-256, PLAIN), SAGALINE_KAFKA_SASL_USERNAME and _PASSWORD, SAGALINE_KAFKA_SSL_CA_FILE.
 */
function kafkaSecurity(env: Env): KafkaSecurity {
  const protocol = (env.SAGALINE_KAFKA_SECURITY_PROTOCOL || 'PLAINTEXT').toUpperCase();
  if (!(KAFKA_SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigError(`SAGALINE_KAFKA_SECURITY_PROTOCOL must be one of ${KAFKA_SECURITY_PROTOCOLS.join(', ')}, got "${env.SAGALINE_KAFKA_SECURITY_PROTOCOL}"`);
  }
  const tls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const caFile = existingFile(env, 'SAGALINE_KAFKA_SSL_CA_FILE');
  if (caFile && !tls) throw new ConfigError(`SAGALINE_KAFKA_SSL_CA_FILE is set but SAGALINE_KAFKA_SECURITY_PROTOCOL is ${protocol}: TLS needs SSL or SASL_SSL`);
  const saslVars = ['SAGALINE_KAFKA_SASL_MECHANISM', 'SAGALINE_KAFKA_SASL_USERNAME', 'SAGALINE_KAFKA_SASL_PASSWORD'].filter((name) => (env[name] ?? '') !== '');
  if (!protocol.startsWith('SASL_')) {
    if (saslVars.length > 0) throw new ConfigError(`${saslVars.join(', ')} set but SAGALINE_KAFKA_SECURITY_PROTOCOL is ${protocol}: SASL needs SASL_SSL or SASL_PLAINTEXT`);
    return { protocol: protocol as KafkaSecurityProtocol, ...(caFile ? { caFile } : {}) };
  }
  return { protocol: protocol as KafkaSecurityProtocol, sasl: sasl(env, undefined), ...(caFile ? { caFile } : {}) };
}

function sasl(env: Env, local: { username: string; password: string } | undefined): NonNullable<KafkaSecurity['sasl']> {
  const mechanism = (env.SAGALINE_KAFKA_SASL_MECHANISM || 'SCRAM-SHA-512').toUpperCase();
  if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new ConfigError(`SAGALINE_KAFKA_SASL_MECHANISM must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}, got "${env.SAGALINE_KAFKA_SASL_MECHANISM}"`);
  }
  if (local) return { mechanism: mechanism as KafkaSaslMechanism, ...local };
  const username = env.SAGALINE_KAFKA_SASL_USERNAME;
  const password = env.SAGALINE_KAFKA_SASL_PASSWORD;
  if (!username || !password) throw new ConfigError('SASL needs SAGALINE_KAFKA_SASL_USERNAME and SAGALINE_KAFKA_SASL_PASSWORD');
  return { mechanism: mechanism as KafkaSaslMechanism, username, password };
}

/** The brought registry: SCHEMA_REGISTRY_URL, with SAGALINE_REGISTRY_USERNAME/_PASSWORD for basic auth and SAGALINE_REGISTRY_CA_FILE for https. */
function registryEndpoint(env: Env, registryUrl: string): RegistryEndpoint {
  const username = env.SAGALINE_REGISTRY_USERNAME || undefined;
  const password = env.SAGALINE_REGISTRY_PASSWORD || undefined;
  if ((username === undefined) !== (password === undefined)) throw new ConfigError('basic auth to the registry needs both SAGALINE_REGISTRY_USERNAME and SAGALINE_REGISTRY_PASSWORD');
  const caFile = existingFile(env, 'SAGALINE_REGISTRY_CA_FILE');
  if (caFile && !registryUrl.startsWith('https:')) throw new ConfigError(`SAGALINE_REGISTRY_CA_FILE is set but SCHEMA_REGISTRY_URL is not https: "${registryUrl}"`);
  if (new URL(registryUrl).username) throw new ConfigError('SCHEMA_REGISTRY_URL must not carry credentials: set SAGALINE_REGISTRY_USERNAME and SAGALINE_REGISTRY_PASSWORD');
  return { url: registryUrl, timeoutMs: registryTimeoutMs(env), ...(username ? { username, password } : {}), ...(caFile ? { caFile } : {}) };
}

function registryTimeoutMs(env: Env): number {
  return positiveInt(env, 'SAGALINE_REGISTRY_TIMEOUT_MS', DEFAULTS.registryTimeoutMs);
}

/** DATABASE_URL's TLS parameters, checked: sslmode one of libpq's, sslrootcert a file that exists. */
function checkDatabaseTls(name: string, databaseUrl: string): void {
  const params = new URL(databaseUrl).searchParams;
  const mode = params.get('sslmode');
  if (mode !== null && !(PG_SSL_MODES as readonly string[]).includes(mode)) throw new ConfigError(`${name}: sslmode must be one of ${PG_SSL_MODES.join(', ')}, got "${mode}"`);
  const rootCert = params.get('sslrootcert');
  if (rootCert !== null && rootCert !== 'system' && !existsSync(rootCert)) throw new ConfigError(`${name}: sslrootcert names ${rootCert}, which does not exist`);
}

function brokerCount(env: NodeJS.ProcessEnv, stateDir: string): number {
  const raw = env.SAGALINE_BROKERS || (existsSync(join(stateDir, BROKERS_FILE)) ? readFileSync(join(stateDir, BROKERS_FILE), 'utf8').trim() : '1');
  const n = Number(raw);
  if (n !== 1 && n !== 3) throw new ConfigError(`the local stack runs 1 or 3 Kafka brokers, got ${JSON.stringify(raw)} (${env.SAGALINE_BROKERS ? 'SAGALINE_BROKERS' : join(stateDir, BROKERS_FILE)})`);
  return n;
}

export interface StackPorts {
  postgres: number;
  kafka: number;
  kafkaController: number;
  connect: number;
  registry: number;
  registryManagement: number;
}

export interface LocalStackConfig {
  /** Process ids, data directories, configuration files and logs of the running stack. */
  stateDir: string;
  /** Downloaded artifacts (outside the repository; shared by every clone). */
  cacheDir: string;
  ports: StackPorts;
  /**
   * Kafka nodes (KRaft, each broker and controller): 1, or 3 for a replicated cluster. From
   * SAGALINE_BROKERS, else what `stack up --brokers N` recorded in the state directory, else 1.
   * Node i (from 0) listens on kafka + 2i and its controller on kafkaController + 2i.
   */
  brokers: number;
  /**
   * Kafka Connect workers in one group (distributed mode): 1, or up to 3, so that a worker's crash
   * hands its connectors to another. From SAGALINE_CONNECT_WORKERS, else what `stack up
   * --connect-workers N` recorded in the state directory, else 1. Worker i (from 0) serves REST on connect + 2i.
   */
  connectWorkers: number;
  heapMb: { kafka: number; connect: number; registry: number };
  postgresBinDir: string;
  javaBin: string;
  /** Java for the registry (Apicurio 3.3 needs 21+); undefined: the newest JDK found under /usr/lib/jvm. */
  registryJavaBin: string | undefined;
  mvnBin: string;
  postgresUser: string;
  postgresPassword: string;
  /**
   * `stack up --secure`: Kafka over SASL_SSL (SCRAM-SHA-512 and PLAIN), the registry over https with
   * basic auth, Postgres requiring TLS, all with certificates and passwords generated into the state
   * directory (infra/stack/secure.ts). From SAGALINE_SECURE, else what `stack up --secure` recorded.
   */
  secure: boolean;
  startTimeoutMs: number;
  stopTimeoutMs: number;
}

export type KafkaSecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export const KAFKA_SECURITY_PROTOCOLS: readonly KafkaSecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];
export type KafkaSaslMechanism = 'SCRAM-SHA-512' | 'SCRAM-SHA-256' | 'PLAIN';
export const KAFKA_SASL_MECHANISMS: readonly KafkaSaslMechanism[] = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'];

/** How every Kafka client (and the local stack's Connect) reaches the brokers. */
export interface KafkaSecurity {
  protocol: KafkaSecurityProtocol;
  /** SASL_*: the mechanism and credentials. */
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
  /** SSL, SASL_SSL: a PEM file of the certificate authorities to trust (undefined: the system's). */
  caFile?: string;
}

/** The schema registry: its Confluent-compatible base URL, basic-auth credentials, a PEM file of CAs to trust for https. */
export interface RegistryEndpoint {
  url: string;
  /** One request's deadline (SAGALINE_REGISTRY_TIMEOUT_MS); a request that takes longer fails and is retried like any transient failure. */
  timeoutMs?: number;
  username?: string;
  password?: string;
  caFile?: string;
}

/** Postgres `sslmode` values DATABASE_URL may carry (libpq's, as node-postgres and Debezium take them). */
export const PG_SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export type RelayMode = 'debezium' | 'polling';
export const RELAY_MODES: readonly RelayMode[] = ['debezium', 'polling'];

export interface Config {
  /** `external`: the four endpoint variables were set and no local stack is managed. */
  mode: 'local' | 'external';
  /** How outbox rows reach Kafka: Debezium change data capture, or the polling relay. */
  relay: RelayMode;
  /** How Kafka Connect reaches the databases (differs from databaseUrl when Connect runs elsewhere, e.g. in Docker). */
  connectDatabaseUrl: string;
  /**
   * What a connector's configuration holds for the database password: a reference Kafka Connect's
   * config providers resolve in the worker (`${file:/path:key}`, `${env:VAR}`), so the password is
   * neither in what is posted to Connect nor in its config topic. Undefined: the password itself
   * (for a Connect with no config provider; provisioning warns).
   */
  connectDatabasePassword: string | undefined;
  /** Polling relay: rows per batch, and pause when the outbox is empty. */
  relayBatchSize: number;
  relayIdlePollMs: number;
  outboxRetentionMs: number;
  outboxCleanupIntervalMs: number;
  /**
   * Debezium's `max.batch.size` for the outbox connectors provisioned, when set
   * (SAGALINE_DEBEZIUM_MAX_BATCH_SIZE); otherwise the connector template's 1, which hands each change
   * on at once. A larger batch delivers more per second at saturation and waits up to
   * `poll.interval.ms` (10 ms) for each batch: docs/performance.md has both measured.
   */
  debeziumMaxBatchSize: number | undefined;
  /**
   * Whether `provision` registers the outbox connectors with Kafka Connect (SAGALINE_PROVISION_CONNECTORS,
   * default true): false where something else manages them (Strimzi KafkaConnector resources).
   */
  provisionConnectors: boolean;
  /** Saga processes: where a new consumer group starts, how often timers are looked at. (Step deadlines are in the definitions.) */
  saga: {
    /** `earliest` (default): a processor's first run reads the whole log, so nothing is missed. */
    consumerStart: 'earliest' | 'latest';
    timerPollMs: number;
    /** How long the group waits for a silent consumer (a crashed processor) before handing its partitions on. */
    sessionTimeoutMs: number;
    /** At most this many messages of one partition are handled in one database transaction. */
    batchMaxMessages: number;
    /**
     * Partitions one process handles at once (each batch in its own transaction and connection).
     * kafkajs fetches again only when every batch of the last fetch is done, so with fewer workers
     * than partitions a message waits for batches handled one after another.
     */
    partitionsConcurrently: number;
    /** A consumer's fetch waits for this many bytes, or fetchMaxWaitMs: a little wait makes fewer, larger transactions. */
    fetchMinBytes: number;
    fetchMaxWaitMs: number;
    /**
     * Handled offsets are committed to Kafka at most this often (and when partitions move or the
     * process stops); 0 commits after every batch. A crash re-delivers what was handled since, which
     * the inbox recognises: a longer interval means fewer broker requests, not lost or doubled effects.
     */
    commitIntervalMs: number;
  };
  kafkaBrokers: string[];
  /** PLAINTEXT unless SAGALINE_KAFKA_SECURITY_PROTOCOL (or the secured local stack) says otherwise. */
  kafkaSecurity: KafkaSecurity;
  /**
   * The Postgres server: host, port, user, password and connection parameters. The database it
   * names is only where sagaline connects to create its own databases (ENGINE_DATABASE and one per
   * service); every part reaches its own database through `databaseUrlFor`.
   */
  databaseUrl: string;
  schemaRegistryUrl: string;
  /** The registry with its credentials and trust: what every registry client is built from. */
  schemaRegistry: RegistryEndpoint;
  /** Kafka Connect's REST address (the first of connectUrls). */
  connectUrl: string;
  /** Every Connect worker's REST address: a request goes to the next when one is unreachable. */
  connectUrls: string[];
  logLevel: string;
  /**
   * The HTTP API (`sagaline serve`). `auth`: `tokens` (the default) asks every request but the
   * health probes and the UI's static files for an API token (api/tokens.ts); `none` lets anyone
   * who reaches the API act as the operator.
   */
  api: { host: string; port: number; auth: 'tokens' | 'none' };
  /** Process i of a project's plan (processors/supervisor.ts) serves GET /metrics on 127.0.0.1:base+1+i. */
  processorMetricsPortBase: number;
  /** Outbox delivery health and its guard (outbox-connector/delivery-health.ts, delivery-guard.ts). */
  delivery: {
    /** A connector whose last heartbeat is older than this is reported stalled (Connect may still call it RUNNING). */
    stallAfterMs: number;
    /** How often the delivery guard checks the connectors; 0 turns it off. */
    guardIntervalMs: number;
  };
  /** The two-phase commit coordinator (`coordinator/`). */
  twoPhaseCommit: {
    /** Phase 1: a participant that has not voted by then counts as a no. */
    prepareTimeoutMs: number;
    /** Phase 2: pause between two attempts to finish a participant. */
    retryIntervalMs: number;
    /** An undecided transaction older than this is aborted (presumed abort), so no prepared transaction holds locks for long. */
    decisionTimeoutMs: number;
  };
  /** HTTP participants (processors/engine/http-participant.ts): where their services are, how long a call may take. */
  http: {
    /** Service name → base URL (SAGALINE_SERVICES, then SAGALINE_SERVICES_FILE); looked up before Consul. */
    services: Readonly<Record<string, string>>;
    /** Consul's HTTP address (SAGALINE_CONSUL_URL): services not in `services` are looked up in its catalogue. */
    consulUrl: string | undefined;
    /** One call's timeout (SAGALINE_HTTP_TIMEOUT_MS); a call that takes longer counts as a transient failure. */
    callTimeoutMs: number;
  };
  stack: LocalStackConfig;
  versions: Versions;
}

type Env = Record<string, string | undefined>;

const ENDPOINT_VARS = ['KAFKA_BROKERS', 'DATABASE_URL', 'SCHEMA_REGISTRY_URL', 'CONNECT_URL'] as const;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ConfigError(`${name} must be a TCP port between 1 and 65535, got "${raw}"`);
  }
  return value;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function booleanVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** Below Debezium's queue (max.queue.size, 8,192), which must hold more than one batch. */
function debeziumMaxBatchSize(env: Env): number | undefined {
  const name = 'SAGALINE_DEBEZIUM_MAX_BATCH_SIZE';
  if (env[name] === undefined || env[name] === '') return undefined;
  const value = positiveInt(env, name, 1);
  if (value >= 8_192) throw new ConfigError(`${name} must be below Debezium's queue size 8192, got "${env[name]}"`);
  return value;
}

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/**
 * Service addresses: SAGALINE_SERVICES (JSON `{"name":"http://host:port"}`, or `name=url,name=url`)
 * over SAGALINE_SERVICES_FILE (a JSON file of the same object). Each address must be an http(s) URL.
 */
function services(env: Env): Record<string, string> {
  const parse = (name: string, raw: string): Record<string, string> => {
    let entries: [string, unknown][];
    if (raw.trim().startsWith('{')) {
      try {
        entries = Object.entries(JSON.parse(raw) as Record<string, unknown>);
      } catch (err) {
        throw new ConfigError(`${name} is not a JSON object of service name → URL: ${(err as Error).message}`);
      }
    } else {
      entries = raw.split(',').map((pair) => pair.trim()).filter(Boolean).map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new ConfigError(`${name}: expected name=url pairs separated by commas, got "${pair}"`);
        return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      });
    }
    return Object.fromEntries(entries.map(([service, address]) => {
      if (typeof address !== 'string') throw new ConfigError(`${name}: the address of service ${service} must be a URL string, got ${JSON.stringify(address)}`);
      return [service, url(`${name} (service ${service})`, address, ['http:', 'https:'])];
    }));
  };
  const file = env.SAGALINE_SERVICES_FILE;
  let fromFile: Record<string, string> = {};
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`SAGALINE_SERVICES_FILE names ${file}, which does not exist`);
    fromFile = parse(`SAGALINE_SERVICES_FILE (${file})`, readFileSync(file, 'utf8'));
  }
  return { ...fromFile, ...(env.SAGALINE_SERVICES ? parse('SAGALINE_SERVICES', env.SAGALINE_SERVICES) : {}) };
}

function dir(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  return isAbsolute(raw) ? raw : resolve(raw);
}

function url(name: string, raw: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}" in "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

export function loadConfig(env: Env = process.env): Config {
  const given = ENDPOINT_VARS.filter((name) => (env[name] ?? '') !== '');
  if (given.length > 0 && given.length < ENDPOINT_VARS.length) {
    const missing = ENDPOINT_VARS.filter((name) => !given.includes(name));
    throw new ConfigError(
      `an external stack needs all of ${ENDPOINT_VARS.join(', ')}; set ${missing.join(', ')} too, or unset ${given.join(', ')} to use the local stack`,
    );
  }

  const ports: StackPorts = {
    postgres: port(env, 'SAGALINE_PG_PORT', DEFAULTS.postgresPort),
    kafka: port(env, 'SAGALINE_KAFKA_PORT', DEFAULTS.kafkaPort),
    kafkaController: port(env, 'SAGALINE_KAFKA_CONTROLLER_PORT', DEFAULTS.kafkaControllerPort),
    connect: port(env, 'SAGALINE_CONNECT_PORT', DEFAULTS.connectPort),
    registry: port(env, 'SAGALINE_REGISTRY_PORT', DEFAULTS.registryPort),
    registryManagement: port(env, 'SAGALINE_REGISTRY_MANAGEMENT_PORT', DEFAULTS.registryManagementPort),
  };
  const auth = env.SAGALINE_API_AUTH || 'tokens';
  if (auth !== 'tokens' && auth !== 'none') throw new ConfigError(`SAGALINE_API_AUTH must be tokens or none, got "${auth}"`);
  const api = { host: env.SAGALINE_HTTP_HOST || DEFAULTS.apiHost, port: port(env, 'SAGALINE_API_PORT', DEFAULTS.apiPort), auth: auth as 'tokens' | 'none' };
  const processorMetricsPortBase = port(env, 'SAGALINE_METRICS_PORT_BASE', DEFAULTS.processorMetricsPortBase);
  const seen = new Map<number, string>();
  for (const [name, value] of Object.entries({ ...ports, api: api.port })) {
    const other = seen.get(value);
    if (other) throw new ConfigError(`ports of ${other} and ${name} are both ${value}; give each component its own port`);
    seen.set(value, name);
  }

  const javaHome = env.JAVA_HOME;
  const stateDir = dir(env, 'SAGALINE_STATE_DIR', defaultStateDir());
  const brokers = brokerCount(env, stateDir);
  for (let i = 1; i < brokers; i++) {
    const node = kafkaNodePorts(ports, i);
    for (const [what, value] of [[`kafka node ${i + 1}`, node.broker], [`kafka node ${i + 1} controller`, node.controller]] as const) {
      const other = seen.get(value);
      if (other) throw new ConfigError(`ports of ${other} and ${what} are both ${value}; give each component its own port`);
      seen.set(value, what);
    }
  }
  const connectWorkers = connectWorkerCount(env, stateDir);
  for (let i = 1; i < connectWorkers; i++) {
    const value = connectWorkerPort(ports, i);
    const other = seen.get(value);
    if (other) throw new ConfigError(`ports of ${other} and connect worker ${i + 1} are both ${value}; give each component its own port`);
    seen.set(value, `connect worker ${i + 1}`);
  }
  const stack: LocalStackConfig = {
    stateDir,
    brokers,
    connectWorkers,
    cacheDir: dir(env, 'SAGALINE_CACHE_DIR', join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sagaline')),
    ports,
    heapMb: {
      kafka: positiveInt(env, 'SAGALINE_KAFKA_HEAP_MB', DEFAULTS.kafkaHeapMb),
      connect: positiveInt(env, 'SAGALINE_CONNECT_HEAP_MB', DEFAULTS.connectHeapMb),
      registry: positiveInt(env, 'SAGALINE_REGISTRY_HEAP_MB', DEFAULTS.registryHeapMb),
    },
    postgresBinDir: env.SAGALINE_PG_BIN_DIR || `/usr/lib/postgresql/${VERSIONS.postgres}/bin`,
    javaBin: env.SAGALINE_JAVA || (javaHome ? join(javaHome, 'bin', 'java') : 'java'),
    registryJavaBin: env.SAGALINE_REGISTRY_JAVA || undefined,
    mvnBin: env.SAGALINE_MVN || 'mvn',
    postgresUser: DEFAULTS.postgresUser,
    postgresPassword: DEFAULTS.postgresPassword,
    secure: secureStack(env, stateDir),
    startTimeoutMs: positiveInt(env, 'SAGALINE_START_TIMEOUT_MS', DEFAULTS.componentStartTimeoutMs),
    stopTimeoutMs: positiveInt(env, 'SAGALINE_STOP_TIMEOUT_MS', DEFAULTS.componentStopTimeoutMs),
  };

  const logLevel = env.LOG_LEVEL || DEFAULTS.logLevel;
  const relayRaw = env.SAGALINE_RELAY || DEFAULTS.relay;
  if (!(RELAY_MODES as readonly string[]).includes(relayRaw)) {
    throw new ConfigError(`SAGALINE_RELAY must be one of ${RELAY_MODES.join(', ')}, got "${relayRaw}"`);
  }
  const consumerStart = env.SAGALINE_PROCESSOR_START || 'earliest';
  if (consumerStart !== 'earliest' && consumerStart !== 'latest') {
    throw new ConfigError(`SAGALINE_PROCESSOR_START must be earliest or latest, got "${consumerStart}"`);
  }
  const saga = {
    consumerStart: consumerStart as 'earliest' | 'latest',
    timerPollMs: positiveInt(env, 'SAGALINE_TIMER_POLL_MS', DEFAULTS.timerPollMs),
    sessionTimeoutMs: positiveInt(env, 'SAGALINE_CONSUMER_SESSION_TIMEOUT_MS', DEFAULTS.sessionTimeoutMs),
    batchMaxMessages: positiveInt(env, 'SAGALINE_BATCH_MAX_MESSAGES', DEFAULTS.batchMaxMessages),
    partitionsConcurrently: positiveInt(env, 'SAGALINE_PARTITIONS_CONCURRENTLY', DEFAULTS.partitionsConcurrently),
    fetchMinBytes: positiveInt(env, 'SAGALINE_FETCH_MIN_BYTES', DEFAULTS.fetchMinBytes),
    fetchMaxWaitMs: positiveInt(env, 'SAGALINE_FETCH_MAX_WAIT_MS', DEFAULTS.fetchMaxWaitMs),
    commitIntervalMs: nonNegativeInt(env, 'SAGALINE_COMMIT_INTERVAL_MS', DEFAULTS.commitIntervalMs),
  };
  const common = {
    saga,
    relay: relayRaw as RelayMode,
    relayBatchSize: positiveInt(env, 'SAGALINE_RELAY_BATCH_SIZE', DEFAULTS.relayBatchSize),
    relayIdlePollMs: positiveInt(env, 'SAGALINE_RELAY_IDLE_POLL_MS', DEFAULTS.relayIdlePollMs),
    outboxRetentionMs: nonNegativeInt(env, 'SAGALINE_OUTBOX_RETENTION_MS', DEFAULTS.outboxRetentionMs),
    outboxCleanupIntervalMs: nonNegativeInt(env, 'SAGALINE_OUTBOX_CLEANUP_INTERVAL_MS', DEFAULTS.outboxCleanupIntervalMs),
    debeziumMaxBatchSize: debeziumMaxBatchSize(env),
    provisionConnectors: booleanVar(env, 'SAGALINE_PROVISION_CONNECTORS', true),
    logLevel,
    api,
    processorMetricsPortBase,
    delivery: {
      stallAfterMs: positiveInt(env, 'SAGALINE_DELIVERY_STALL_MS', DEFAULTS.delivery.stallAfterMs),
      guardIntervalMs: nonNegativeInt(env, 'SAGALINE_DELIVERY_GUARD_MS', DEFAULTS.delivery.guardIntervalMs),
    },
    twoPhaseCommit: {
      prepareTimeoutMs: positiveInt(env, 'SAGALINE_2PC_PREPARE_TIMEOUT_MS', DEFAULTS.twoPhaseCommit.prepareTimeoutMs),
      retryIntervalMs: positiveInt(env, 'SAGALINE_2PC_RETRY_INTERVAL_MS', DEFAULTS.twoPhaseCommit.retryIntervalMs),
      decisionTimeoutMs: positiveInt(env, 'SAGALINE_2PC_DECISION_TIMEOUT_MS', DEFAULTS.twoPhaseCommit.decisionTimeoutMs),
    },
    http: {
      services: services(env),
      consulUrl: env.SAGALINE_CONSUL_URL ? url('SAGALINE_CONSUL_URL', env.SAGALINE_CONSUL_URL, ['http:', 'https:']) : undefined,
      callTimeoutMs: positiveInt(env, 'SAGALINE_HTTP_TIMEOUT_MS', DEFAULTS.httpCallTimeoutMs),
    },
    stack,
    versions: VERSIONS,
  };

  const passwordReference = env.SAGALINE_CONNECT_DB_PASSWORD || undefined;
  if (passwordReference !== undefined && !CONFIG_PROVIDER_REFERENCE.test(passwordReference)) {
    throw new ConfigError(`SAGALINE_CONNECT_DB_PASSWORD must be a Kafka Connect config provider reference such as \${env:PGPASSWORD} or \${file:/secrets/db.properties:password}, not the password itself`);
  }

  if (given.length === ENDPOINT_VARS.length) {
    const brokers = (env.KAFKA_BROKERS as string).split(',').map((b) => b.trim()).filter(Boolean);
    for (const broker of brokers) {
      if (!/^[^\s:/]+:\d{1,5}$/.test(broker)) throw new ConfigError(`KAFKA_BROKERS entries must be host:port, got "${broker}"`);
    }
    const databaseUrl = url('DATABASE_URL', env.DATABASE_URL as string, ['postgres:', 'postgresql:']);
    checkDatabaseTls('DATABASE_URL', databaseUrl);
    const schemaRegistryUrl = url('SCHEMA_REGISTRY_URL', env.SCHEMA_REGISTRY_URL as string, ['http:', 'https:']);
    return {
      mode: 'external',
      kafkaBrokers: brokers,
      databaseUrl,
      kafkaSecurity: kafkaSecurity(env),
      connectDatabaseUrl: env.CONNECT_DATABASE_URL ? url('CONNECT_DATABASE_URL', env.CONNECT_DATABASE_URL, ['postgres:', 'postgresql:']) : databaseUrl,
      connectDatabasePassword: passwordReference,
      schemaRegistryUrl,
      schemaRegistry: registryEndpoint(env, schemaRegistryUrl),
      ...connectUrls((env.CONNECT_URL as string).split(',').map((u) => u.trim()).filter(Boolean).map((u) => url('CONNECT_URL', u, ['http:', 'https:']))),
      ...common,
    };
  }

  // The secured stack: generated passwords (the same user everywhere), TLS verified against its own CA.
  const credentials = stack.secure ? stackCredentials(stack.stateDir) : undefined;
  const { caFile } = secureMaterialPaths(stack.stateDir);
  if (credentials) stack.postgresPassword = credentials.postgres;
  const user = encodeURIComponent(stack.postgresUser);
  const password = encodeURIComponent(stack.postgresPassword);
  const tls = credentials ? `?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : '';
  const databaseUrl = `postgres://${user}:${password}@127.0.0.1:${ports.postgres}/${DEFAULTS.postgresDatabase}${tls}`;
  const schemaRegistryUrl = `${credentials ? 'https' : 'http'}://127.0.0.1:${ports.registry}/apis/ccompat/v7`;
  return {
    mode: 'local',
    kafkaBrokers: Array.from({ length: stack.brokers }, (_, i) => `127.0.0.1:${kafkaNodePorts(ports, i).broker}`),
    kafkaSecurity: credentials
      ? { protocol: 'SASL_SSL', sasl: sasl(env, { username: SECURE_USER, password: credentials.kafka }), caFile }
      : { protocol: 'PLAINTEXT' },
    databaseUrl,
    connectDatabaseUrl: databaseUrl,
    // The local stack's workers read it from a file only they and we can read (infra/stack/connect.ts).
    connectDatabasePassword: passwordReference ?? `\${file:${connectSecretsFile(stack.stateDir)}:${CONNECT_PASSWORD_KEY}}`,
    schemaRegistryUrl,
    schemaRegistry: {
      url: schemaRegistryUrl,
      timeoutMs: registryTimeoutMs(env),
      ...(credentials ? { username: SECURE_USER, password: credentials.registry, caFile } : {}),
    },
    ...connectUrls(Array.from({ length: stack.connectWorkers }, (_, i) => `http://127.0.0.1:${connectWorkerPort(ports, i)}`)),
    ...common,
  };
}

/** `${provider:path:key}` or `${provider:key}`: what Kafka Connect's config providers resolve. */
const CONFIG_PROVIDER_REFERENCE = /^\$\{[A-Za-z0-9_.-]+:[^}]+\}$/;
export const CONNECT_PASSWORD_KEY = 'database.password';
/** The local stack's Connect secrets (a properties file, mode 0600) for its file config provider. */
export const connectSecretsFile = (stateDir: string): string => join(stateDir, 'secrets', 'connect.properties');

function connectUrls(urls: string[]): { connectUrl: string; connectUrls: string[] } {
  if (urls.length === 0) throw new ConfigError('CONNECT_URL names no address');
  return { connectUrl: urls[0]!, connectUrls: urls };
}

/** sagaline's own database: the sources registry, the two-phase commit log. */
export const ENGINE_DATABASE: string = DEFAULTS.postgresDatabase;

/** The same server as `databaseUrl`, another database on it. */
export function databaseUrlFor(config: Pick<Config, 'databaseUrl'>, database: string): string {
  const parsed = new URL(config.databaseUrl);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A URL fit for a log line or an error: its password replaced. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}
