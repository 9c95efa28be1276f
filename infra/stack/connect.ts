/** Kafka Connect in distributed mode, with the Debezium PostgreSQL connector on its plugin path. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CONNECT_PASSWORD_KEY, connectSecretsFile, connectWorkerPort, type KafkaSecurity } from '../../core/config.ts';
import { StackError } from '../../core/errors.ts';
import type { Artifacts } from './artifacts.ts';
import { probeConnect } from './health.ts';
import { logFileOf, type Component, type ComponentContext } from './component.ts';
import { JvmProcess, writeLog4j, writeProperties } from './jvm.ts';
import { jaasQuote } from './kafka.ts';

const LOGIN_MODULE = { 'SCRAM-SHA-512': 'scram.ScramLoginModule', 'SCRAM-SHA-256': 'scram.ScramLoginModule', PLAIN: 'plain.PlainLoginModule' } as const;

/** A Java Kafka client's settings for `security` (its own, and with each prefix given: `producer.`, …). Pure. */
export function javaClientSecurity(security: KafkaSecurity, prefixes: readonly string[] = ['']): Record<string, string> {
  if (security.protocol === 'PLAINTEXT') return {};
  const own: Record<string, string> = { 'security.protocol': security.protocol };
  if (security.sasl) {
    own['sasl.mechanism'] = security.sasl.mechanism;
    own['sasl.jaas.config'] = `org.apache.kafka.common.security.${LOGIN_MODULE[security.sasl.mechanism]} required username=${jaasQuote(security.sasl.username)} password=${jaasQuote(security.sasl.password)};`;
  }
  if (security.caFile) Object.assign(own, { 'ssl.truststore.type': 'PEM', 'ssl.truststore.location': security.caFile });
  return Object.fromEntries(prefixes.flatMap((prefix) => Object.entries(own).map(([k, v]) => [`${prefix}${k}`, v])));
}

/** One worker: its own process, REST port, files and log; worker 0 keeps the single worker's names. */
class ConnectWorker {
  readonly jvm: JvmProcess;
  readonly port: number;
  readonly url: string;

  constructor(
    private readonly ctx: ComponentContext,
    readonly index: number,
  ) {
    const { ports, heapMb } = ctx.config.stack;
    const name = index === 0 ? 'connect' : `connect-${index + 1}`;
    this.port = connectWorkerPort(ports, index);
    this.url = `http://127.0.0.1:${this.port}`;
    this.jvm = new JvmProcess(ctx, name, heapMb.connect, logFileOf(ctx.logsDir, name));
  }

  get ports(): { name: string; port: number }[] {
    return [{ name: this.jvm.name, port: this.port }];
  }

  start(artifacts: Artifacts): number {
    const { brokers } = this.ctx.config.stack;
    const port = this.port;
    // Connect's own topics (connector configs, source offsets, status) as replicated as the cluster allows.
    const replicas = Math.min(3, brokers);
    const propsFile = join(this.jvm.dir, 'connect-distributed.properties');
    const log4jFile = join(this.jvm.dir, 'log4j.properties');
    writeProperties(propsFile, {
      'bootstrap.servers': this.ctx.config.kafkaBrokers.join(','),
      'group.id': 'sagaline-connect',
      'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': false,
      'config.storage.topic': '_sagaline-connect-configs',
      'offset.storage.topic': '_sagaline-connect-offsets',
      'status.storage.topic': '_sagaline-connect-status',
      'config.storage.replication.factor': replicas,
      'offset.storage.replication.factor': replicas,
      'status.storage.replication.factor': replicas,
      // What its source tasks produce (the outbox rows) is acknowledged by every in-sync replica.
      'producer.acks': 'all',
      'producer.enable.idempotence': true,
      // Source offsets are flushed this often; after a crash, at most this much is re-sent (consumers dedupe).
      'offset.flush.interval.ms': 5_000,
      // A worker that rejoins after the broker was away (or after its own restart) is a new member,
      // and one that crashed is gone: by default the connectors of the member that left wait up to
      // 5 minutes for it to come back, and nothing is delivered meanwhile. With one worker nobody
      // else will take them; with several, the others take them over as soon as the group sees it gone.
      'scheduled.rebalance.max.delay.ms': 0,
      // When the broker is away, the worker revokes its tasks after 3 s; a Debezium task then stops
      // only once its final offset commit gets through, i.e. once the broker is back. Cut off before
      // that (the default is 5 s), it is abandoned but lives on inside the worker, holding its
      // replication slot, so the task started next cannot stream. Two minutes lets a short outage
      // end cleanly; after a longer one (and, as seen, sometimes even a shorter one) the delivery
      // guard in the saga-state processor ends the abandoned task's connection (docs/outbox-delivery.md).
      'task.shutdown.graceful.timeout.ms': 120_000,
      listeners: `http://127.0.0.1:${port}`,
      'rest.advertised.host.name': '127.0.0.1',
      'rest.advertised.port': port,
      'plugin.path': artifacts.connectPluginPath,
      // The group notices a crashed worker after this long (the default, stated): then its connectors move.
      'session.timeout.ms': 10_000,
      // Secrets in connector configurations are references the worker resolves (${file:…}, ${env:…}):
      // the database password is never posted to Connect nor kept in its config topic. The file
      // provider may read the stack's secrets directory only.
      'config.providers': 'file,env',
      'config.providers.file.class': 'org.apache.kafka.common.config.provider.FileConfigProvider',
      'config.providers.file.param.allowed.paths': dirname(connectSecretsFile(this.ctx.config.stack.stateDir)),
      'config.providers.env.class': 'org.apache.kafka.common.config.provider.EnvVarConfigProvider',
      // The secured stack: the worker, and the producers, consumers and admin clients it makes for its tasks, log in over TLS.
      ...javaClientSecurity(this.ctx.config.kafkaSecurity, ['', 'producer.', 'consumer.', 'admin.']),
    }, this.ctx.config.kafkaSecurity.sasl !== undefined);
    writeLog4j(log4jFile);
    writeConnectSecrets(this.ctx.config.stack.stateDir, decodeURIComponent(new URL(this.ctx.config.connectDatabaseUrl).password));
    return this.jvm.launch([`-Dlog4j.configuration=file:${log4jFile}`, '-cp', `${artifacts.kafkaLibs}/*`, 'org.apache.kafka.connect.cli.ConnectDistributed', propsFile]);
  }
}

/**
 * Kafka Connect: one worker, or several in one group (`stack up --connect-workers N`), so that
 * the connectors of a worker that crashes move to another.
 */
export class ConnectComponent implements Component {
  readonly name = 'connect' as const;
  readonly url: string;
  readonly ports: { name: string; port: number }[];
  readonly logFile: string;
  private readonly workers: ConnectWorker[];

  constructor(private readonly ctx: ComponentContext) {
    this.workers = Array.from({ length: ctx.config.stack.connectWorkers }, (_, i) => new ConnectWorker(ctx, i));
    this.url = this.workers.map((w) => w.url).join(',');
    this.ports = this.workers.flatMap((w) => w.ports);
    this.logFile = this.workers[0]!.jvm.logFile;
  }

  /** Worker 0's pid while every worker runs; undefined when any is down (so `up` starts what is missing). */
  pid(): number | undefined {
    const pids = this.workers.map((w) => w.jvm.pid());
    return pids.every((p) => p !== undefined) ? pids[0] : undefined;
  }

  anyPid(): number | undefined {
    return this.workers.map((w) => w.jvm.pid()).find((p) => p !== undefined);
  }

  partial(): string | undefined {
    const down = this.workers.filter((w) => w.jvm.pid() === undefined).map((w) => w.index + 1);
    return down.length === 0 || down.length === this.workers.length ? undefined : `worker${down.length > 1 ? 's' : ''} ${down.join(', ')} of ${this.workers.length} not running`;
  }

  portsToStart(): { name: string; port: number }[] {
    return this.workers.filter((w) => w.jvm.pid() === undefined).flatMap((w) => w.ports);
  }

  /** Starts the workers that are not running; resolves to worker 0's pid. */
  async start(artifacts: Artifacts): Promise<number> {
    return this.workers.map((w) => w.jvm.pid() ?? w.start(artifacts))[0]!;
  }

  /** Ready when every worker's REST API lists the Debezium connector plugin. */
  async probe(): Promise<string | undefined> {
    for (const w of this.workers) {
      const problem = await probeConnect(w.url);
      if (problem !== undefined) return this.workers.length === 1 ? problem : `worker ${w.index + 1}: ${problem}`;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.jvm.stop()));
  }

  /** SIGKILLs every worker. */
  async kill(): Promise<number | undefined> {
    const pids = await Promise.all(this.workers.map((w) => w.jvm.kill(w.ports)));
    return pids[0];
  }

  /** For fault tests with several workers: SIGKILLs worker `i` (from 0) alone; `start` brings it back. */
  async killWorker(i: number): Promise<number | undefined> {
    const worker = this.workers[i];
    if (!worker) throw new StackError('STATE_INVALID', `Connect has ${this.workers.length} worker(s); there is no worker ${i + 1}`);
    return worker.jvm.kill(worker.ports);
  }

  /** Each worker's REST address, in worker order. */
  workerUrls(): string[] {
    return this.workers.map((w) => w.url);
  }
}

/** The secrets the local stack's workers resolve: a properties file only its owner can read. */
function writeConnectSecrets(stateDir: string, password: string): void {
  const file = connectSecretsFile(stateDir);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // A properties value: backslashes escaped, leading blanks kept.
  const value = password.replace(/\\/g, '\\\\').replace(/^[ \t\f]/, (c) => `\\${c}`);
  writeFileSync(file, `${CONNECT_PASSWORD_KEY}=${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
