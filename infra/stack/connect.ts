/** Kafka Connect in distributed mode, with the Debezium PostgreSQL connector on its plugin path. */
import { join } from 'node:path';
import type { Artifacts } from './artifacts.ts';
import { probeConnect } from './health.ts';
import { logFileOf, type Component, type ComponentContext } from './component.ts';
import { JvmProcess, writeLog4j, writeProperties } from './jvm.ts';

export class ConnectComponent implements Component {
  readonly name = 'connect' as const;
  readonly url: string;
  readonly ports;
  readonly logFile: string;
  private readonly jvm: JvmProcess;

  constructor(private readonly ctx: ComponentContext) {
    const { ports, heapMb } = ctx.config.stack;
    this.url = `http://127.0.0.1:${ports.connect}`;
    this.ports = [{ name: 'connect', port: ports.connect }];
    this.logFile = logFileOf(ctx.logsDir, 'connect');
    this.jvm = new JvmProcess(ctx, 'connect', heapMb.connect, this.logFile);
  }

  pid(): number | undefined {
    return this.jvm.pid();
  }

  async start(artifacts: Artifacts): Promise<number> {
    const { ports, brokers } = this.ctx.config.stack;
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
      // A worker that rejoins after the broker was away (or after its own restart) is a new member:
      // by default the connectors of the member it replaces wait up to 5 minutes for that member to
      // come back, and nothing is delivered meanwhile. With one worker nobody else will take them.
      'scheduled.rebalance.max.delay.ms': 0,
      // When the broker is away, the worker revokes its tasks after 3 s; a Debezium task then stops
      // only once its final offset commit gets through, i.e. once the broker is back. Cut off before
      // that (the default is 5 s), it is abandoned but lives on inside the worker, holding its
      // replication slot, so the task started next cannot stream. Two minutes lets a short outage
      // end cleanly; after a longer one (and, as seen, sometimes even a shorter one) the delivery
      // guard in the saga-state processor ends the abandoned task's connection (docs/outbox-delivery.md).
      'task.shutdown.graceful.timeout.ms': 120_000,
      listeners: `http://127.0.0.1:${ports.connect}`,
      'rest.advertised.host.name': '127.0.0.1',
      'rest.advertised.port': ports.connect,
      'plugin.path': artifacts.connectPluginPath,
    });
    writeLog4j(log4jFile);
    return this.jvm.launch([`-Dlog4j.configuration=file:${log4jFile}`, '-cp', `${artifacts.kafkaLibs}/*`, 'org.apache.kafka.connect.cli.ConnectDistributed', propsFile]);
  }

  probe(): Promise<string | undefined> {
    return probeConnect(this.url);
  }

  stop(): Promise<void> {
    return this.jvm.stop();
  }

  kill(): Promise<number | undefined> {
    return this.jvm.kill(this.ports);
  }
}
