/** Apache Kafka, one node in KRaft mode (broker and controller in one process). */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from '../../core/errors.ts';
import type { Artifacts } from './artifacts.ts';
import { logFileOf, type Component, type ComponentContext } from './component.ts';
import { JvmProcess, writeLog4j, writeProperties } from './jvm.ts';
import { run } from './processes.ts';
import { probeKafka } from './health.ts';

/** Kafka cluster ids are a UUID in URL-safe base64 without padding (22 characters). */
export function newClusterId(): string {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
}

export class KafkaComponent implements Component {
  readonly name = 'kafka' as const;
  readonly url: string;
  readonly ports;
  readonly logFile: string;
  private readonly jvm: JvmProcess;

  constructor(private readonly ctx: ComponentContext) {
    const { ports, heapMb } = ctx.config.stack;
    this.url = `127.0.0.1:${ports.kafka}`;
    this.ports = [
      { name: 'kafka', port: ports.kafka },
      { name: 'kafka controller', port: ports.kafkaController },
    ];
    this.logFile = logFileOf(ctx.logsDir, 'kafka');
    this.jvm = new JvmProcess(ctx, 'kafka', heapMb.kafka, this.logFile);
  }

  pid(): number | undefined {
    return this.jvm.pid();
  }

  async start(artifacts: Artifacts): Promise<number> {
    const { ports } = this.ctx.config.stack;
    const dataDir = join(this.jvm.dir, 'data');
    const propsFile = join(this.jvm.dir, 'server.properties');
    const log4jFile = join(this.jvm.dir, 'log4j.properties');
    writeProperties(propsFile, {
      'process.roles': 'broker,controller',
      'node.id': 1,
      'controller.quorum.voters': `1@127.0.0.1:${ports.kafkaController}`,
      listeners: `PLAINTEXT://127.0.0.1:${ports.kafka},CONTROLLER://127.0.0.1:${ports.kafkaController}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${ports.kafka}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'log.dirs': dataDir,
      'num.partitions': 1,
      'offsets.topic.replication.factor': 1,
      'offsets.topic.num.partitions': 10,
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'group.initial.rebalance.delay.ms': 0,
      // Topics come from the topic catalogue; a name nobody declared must fail, not appear.
      'auto.create.topics.enable': false,
    });
    writeLog4j(log4jFile);
    const classpath = `${artifacts.kafkaLibs}/*`;
    const log4j = `-Dlog4j.configuration=file:${log4jFile}`;

    if (!existsSync(join(dataDir, 'meta.properties'))) {
      const idFile = join(this.jvm.dir, 'cluster-id');
      if (!existsSync(idFile)) writeFileSync(idFile, newClusterId());
      const clusterId = readFileSync(idFile, 'utf8').trim();
      const res = await run(this.ctx.config.stack.javaBin, [
        '-Xmx256m', log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, '--ignore-formatted',
      ]);
      if (res.code !== 0) throw new StackError('COMMAND_FAILED', `formatting Kafka storage failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    return this.jvm.launch([log4j, '-cp', classpath, 'kafka.Kafka', propsFile]);
  }

  probe(): Promise<string | undefined> {
    return probeKafka([this.url]);
  }

  stop(): Promise<void> {
    return this.jvm.stop();
  }

  kill(): Promise<number | undefined> {
    return this.jvm.kill(this.ports);
  }
}
