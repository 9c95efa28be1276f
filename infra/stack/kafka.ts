/**
 * Apache Kafka in KRaft mode: one node, or a cluster of three (`stack up --brokers 3`), each node
 * broker and controller in one process. With three, the internal topics are replicated three
 * times, `min.insync.replicas` is 2 and new topics get three replicas by default, so the loss of
 * one node loses nothing and stops nothing.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaNodePorts, secureMaterialPaths } from '../../core/config.ts';
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

/** The secured stack's broker settings: its PEM key store and trust store, and the one user's password. */
export interface BrokerSecurity {
  keystoreFile: string;
  truststoreFile: string;
  username: string;
  password: string;
}

/** A JAAS option value, quoted. */
export const jaasQuote = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * The secured listener: SASL over TLS for clients and between brokers, SCRAM-SHA-512 (the users are
 * created when the storage is formatted) and PLAIN (the user is declared here); the controllers
 * keep a plaintext listener of their own on 127.0.0.1. Pure.
 */
export function secureListenerProperties(security: BrokerSecurity): Record<string, string> {
  const { username, password } = security;
  return {
    'inter.broker.listener.name': 'SASL_SSL',
    'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512,PLAIN',
    'sasl.mechanism.inter.broker.protocol': 'SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username=${jaasQuote(username)} password=${jaasQuote(password)};`,
    'listener.name.sasl_ssl.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required username=${jaasQuote(username)} password=${jaasQuote(password)} user_${username}=${jaasQuote(password)};`,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': security.keystoreFile,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': security.truststoreFile,
  };
}

/** The server.properties of node `i` (from 0) of a cluster of `nodes`. Pure. */
export function nodeProperties(i: number, nodes: number, ports: { kafka: number; kafkaController: number }, dataDir: string, heapMb: number, security?: BrokerSecurity): Record<string, string | number | boolean> {
  const own = kafkaNodePorts(ports, i);
  const replicas = Math.min(3, nodes);
  const listener = security ? 'SASL_SSL' : 'PLAINTEXT';
  return {
    'process.roles': 'broker,controller',
    'node.id': i + 1,
    'controller.quorum.voters': Array.from({ length: nodes }, (_, k) => `${k + 1}@127.0.0.1:${kafkaNodePorts(ports, k).controller}`).join(','),
    listeners: `${listener}://127.0.0.1:${own.broker},CONTROLLER://127.0.0.1:${own.controller}`,
    'advertised.listeners': `${listener}://127.0.0.1:${own.broker}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    ...(security ? secureListenerProperties(security) : {}),
    'log.dirs': dataDir,
    'num.partitions': 1,
    'default.replication.factor': replicas,
    'min.insync.replicas': replicas >= 3 ? 2 : 1,
    'offsets.topic.replication.factor': replicas,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': replicas >= 3 ? 2 : 1,
    'group.initial.rebalance.delay.ms': 0,
    // The log cleaner (compacted topics: consumer offsets, Connect's own) allocates its dedupe buffer,
    // 128 MB by default, at start: with a small heap (256 MB for the test cluster's nodes) that
    // intermittently ended the node with OutOfMemoryError. An eighth of the heap still holds
    // millions of keys.
    'log.cleaner.dedupe.buffer.size': cleanerBufferBytes(heapMb),
    // Topics come from the topic catalogue; a name nobody declared must fail, not appear.
    'auto.create.topics.enable': false,
  };
}

/** The log cleaner's dedupe buffer for a node with `heapMb` of heap: an eighth of it, at most Kafka's default 128 MB. */
export function cleanerBufferBytes(heapMb: number): number {
  return Math.min(128, Math.max(8, Math.floor(heapMb / 8))) * 1024 * 1024;
}

/** One node: its own process, data, ports and log; node 0 keeps the single node's names. */
class KafkaNode {
  readonly jvm: JvmProcess;
  readonly ports: { name: string; port: number }[];
  readonly url: string;

  constructor(
    private readonly ctx: ComponentContext,
    readonly index: number,
    readonly nodes: number,
  ) {
    const { ports, heapMb } = ctx.config.stack;
    const own = kafkaNodePorts(ports, index);
    const name = index === 0 ? 'kafka' : `kafka-${index + 1}`;
    this.url = `127.0.0.1:${own.broker}`;
    this.ports = [
      { name, port: own.broker },
      { name: `${name} controller`, port: own.controller },
    ];
    this.jvm = new JvmProcess(ctx, name, heapMb.kafka, logFileOf(ctx.logsDir, name));
  }

  async start(artifacts: Artifacts, clusterId: string): Promise<number> {
    const dataDir = join(this.jvm.dir, 'data');
    const propsFile = join(this.jvm.dir, 'server.properties');
    const log4jFile = join(this.jvm.dir, 'log4j.properties');
    const security = this.security();
    writeProperties(propsFile, nodeProperties(this.index, this.nodes, this.ctx.config.stack.ports, dataDir, this.ctx.config.stack.heapMb.kafka, security), security !== undefined);
    writeLog4j(log4jFile);
    const classpath = `${artifacts.kafkaLibs}/*`;
    const log4j = `-Dlog4j.configuration=file:${log4jFile}`;
    if (!existsSync(join(dataDir, 'meta.properties'))) {
      const res = await run(this.ctx.config.stack.javaBin, [
        '-Xmx256m', log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propsFile, '--ignore-formatted',
        // The secured stack's SCRAM user exists from the start: the brokers themselves log in with it.
        ...(security ? ['--add-scram', `SCRAM-SHA-512=[name=${security.username},password=${security.password}]`] : []),
      ]);
      if (res.code !== 0) throw new StackError('COMMAND_FAILED', `formatting Kafka storage failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    return this.jvm.launch([log4j, '-cp', classpath, 'kafka.Kafka', propsFile]);
  }

  /** The secured stack's settings for this node (its key store written beside its config), else undefined. */
  private security(): BrokerSecurity | undefined {
    const { config } = this.ctx;
    if (!config.stack.secure || !config.kafkaSecurity.sasl) return undefined;
    const material = secureMaterialPaths(config.stack.stateDir);
    const keystoreFile = join(this.jvm.dir, 'keystore.pem');
    writeFileSync(keystoreFile, readFileSync(material.keyFile, 'utf8') + readFileSync(material.certFile, 'utf8'), { mode: 0o600 });
    chmodSync(keystoreFile, 0o600);
    return { keystoreFile, truststoreFile: material.caFile, username: config.kafkaSecurity.sasl.username, password: config.kafkaSecurity.sasl.password };
  }
}

export class KafkaComponent implements Component {
  readonly name = 'kafka' as const;
  readonly url: string;
  readonly ports: { name: string; port: number }[];
  readonly logFile: string;
  private readonly nodes: KafkaNode[];

  constructor(private readonly ctx: ComponentContext) {
    const count = ctx.config.stack.brokers;
    this.nodes = Array.from({ length: count }, (_, i) => new KafkaNode(ctx, i, count));
    this.url = this.nodes.map((n) => n.url).join(',');
    this.ports = this.nodes.flatMap((n) => n.ports);
    this.logFile = this.nodes[0]!.jvm.logFile;
  }

  /** Node 0's pid while every node runs; undefined when any is down (so `up` starts what is missing). */
  pid(): number | undefined {
    const pids = this.nodes.map((n) => n.jvm.pid());
    return pids.every((p) => p !== undefined) ? pids[0] : undefined;
  }

  anyPid(): number | undefined {
    return this.nodes.map((n) => n.jvm.pid()).find((p) => p !== undefined);
  }

  partial(): string | undefined {
    const down = this.nodes.filter((n) => n.jvm.pid() === undefined).map((n) => n.index + 1);
    return down.length === 0 || down.length === this.nodes.length ? undefined : `node${down.length > 1 ? 's' : ''} ${down.join(', ')} of ${this.nodes.length} not running`;
  }

  portsToStart(): { name: string; port: number }[] {
    return this.nodes.filter((n) => n.jvm.pid() === undefined).flatMap((n) => n.ports);
  }

  /** The cluster this state directory was formatted for: its id, and how many nodes it has. */
  private cluster(): string {
    const idFile = join(this.nodes[0]!.jvm.dir, 'cluster-id');
    const nodesFile = join(this.nodes[0]!.jvm.dir, 'nodes');
    const formatted = existsSync(join(this.nodes[0]!.jvm.dir, 'data', 'meta.properties'));
    const recorded = existsSync(nodesFile) ? Number(readFileSync(nodesFile, 'utf8').trim()) : formatted ? 1 : undefined;
    if (recorded !== undefined && recorded !== this.nodes.length) {
      throw new StackError(
        'STATE_INVALID',
        `this stack's Kafka was formatted as ${recorded} node${recorded === 1 ? '' : 's'} and cannot become ${this.nodes.length} (a KRaft quorum is fixed when formatted): use another SAGALINE_STATE_DIR, or remove ${this.nodes[0]!.jvm.dir}${recorded > 1 ? ' and the other nodes\u2019 directories' : ''} while the stack is down to start afresh`,
      );
    }
    if (!existsSync(idFile)) writeFileSync(idFile, newClusterId());
    writeFileSync(nodesFile, String(this.nodes.length));
    return readFileSync(idFile, 'utf8').trim();
  }

  /** Starts the nodes that are not running; resolves to node 0's pid. */
  async start(artifacts: Artifacts): Promise<number> {
    const clusterId = this.cluster();
    const pids = await Promise.all(this.nodes.map(async (n) => n.jvm.pid() ?? (await n.start(artifacts, clusterId))));
    return pids[0]!;
  }

  /** Ready when every node is registered with the cluster. */
  async probe(): Promise<string | undefined> {
    return probeKafka(this.nodes.map((n) => n.url), this.nodes.length, this.ctx.config.kafkaSecurity);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.jvm.stop()));
  }

  /** SIGKILLs every node (the whole cluster, as the single node was). */
  async kill(): Promise<number | undefined> {
    const pids = await Promise.all(this.nodes.map((n) => n.jvm.kill(n.ports)));
    return pids[0];
  }

  /** For fault tests on a cluster: SIGKILLs node `i` (from 0) alone; `start` brings it back. */
  async killNode(i: number): Promise<number | undefined> {
    const node = this.nodes[i];
    if (!node) throw new StackError('STATE_INVALID', `the cluster has ${this.nodes.length} node(s); there is no node ${i + 1}`);
    return node.jvm.kill(node.ports);
  }

  /** Each node's pid (undefined for one that is down), in node order. */
  nodePids(): (number | undefined)[] {
    return this.nodes.map((n) => n.jvm.pid());
  }
}
