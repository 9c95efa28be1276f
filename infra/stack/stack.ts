/**
 * The local stack: Postgres, Kafka (KRaft), Kafka Connect with Debezium, Apicurio Registry, as
 * plain processes. `up` is idempotent, checks everything it can before starting anything, and
 * waits for each component's readiness probe with a deadline; `down` stops exactly the processes
 * this stack's state directory started.
 */
import { join } from 'node:path';
import { redactUrl, type Config } from '../../core/config.ts';
import { StackError, TimeoutError } from '../../core/errors.ts';
import { waitFor } from '../../core/wait.ts';
import { artifactPaths, ensureArtifacts, type Progress } from './artifacts.ts';
import type { Component, ComponentContext, ComponentName, ComponentStatus } from './component.ts';
import { ConnectComponent } from './connect.ts';
import { probeConnect, probeKafka, probePostgres, probeRegistry } from './health.ts';
import { KafkaComponent } from './kafka.ts';
import { PostgresComponent } from './postgres.ts';
import { isAlive, isPortFree, residentMb, tail, which } from './processes.ts';
import { RegistryComponent } from './registry.ts';
import { existsSync } from 'node:fs';

export interface UpResult {
  mode: Config['mode'];
  started: ComponentName[];
  alreadyRunning: ComponentName[];
  elapsedMs: number;
}

export class Stack {
  readonly components: Record<ComponentName, Component>;
  private readonly ctx: ComponentContext;

  constructor(private readonly config: Config) {
    this.ctx = { config, logsDir: join(config.stack.stateDir, 'logs') };
    this.components = {
      postgres: new PostgresComponent(this.ctx),
      kafka: new KafkaComponent(this.ctx),
      registry: new RegistryComponent(this.ctx),
      connect: new ConnectComponent(this.ctx),
    };
  }

  /** Everything that must hold before anything starts, as one clear error. */
  private async preflight(toStart: Component[]): Promise<void> {
    const { stack, versions } = this.config;
    if (toStart.some((c) => c.name !== 'postgres') && !which(stack.javaBin)) {
      throw new StackError('MISSING_BINARY', `java not found (${stack.javaBin}): install a Java 17+ runtime, or set JAVA_HOME or SAGALINE_JAVA`);
    }
    const paths = artifactPaths(stack, versions);
    const needsDownload = [paths.kafkaLibs, paths.connectPluginPath, paths.registryHome].some((p) => !existsSync(p));
    if (needsDownload && toStart.some((c) => c.name !== 'postgres') && !which(stack.mvnBin)) {
      throw new StackError('MISSING_BINARY', `mvn not found (${stack.mvnBin}): install Apache Maven to fetch the stack's components, or set SAGALINE_MVN`);
    }
    const problems = [
      ...(toStart.some((c) => c.name === 'postgres') ? PostgresComponent.preflight(this.ctx) : []),
      ...(toStart.some((c) => c.name === 'registry') ? RegistryComponent.preflight(this.ctx) : []),
    ];
    if (problems.length > 0) throw new StackError('MISSING_BINARY', problems[0] as string);
    for (const component of toStart) {
      for (const { name, port } of component.portsToStart?.() ?? component.ports) {
        if (!(await isPortFree(port))) {
          throw new StackError(
            'PORT_TAKEN',
            `port ${port} (${name}) is already in use by another process; stop it or choose another port (see SAGALINE_*_PORT in the README)`,
          );
        }
      }
    }
  }

  async up(progress: Progress): Promise<UpResult> {
    const t0 = Date.now();
    if (this.config.mode === 'external') {
      progress('KAFKA_BROKERS, DATABASE_URL, SCHEMA_REGISTRY_URL and CONNECT_URL are set: using that stack, starting nothing');
      await this.checkExternal();
      return { mode: 'external', started: [], alreadyRunning: [], elapsedMs: Date.now() - t0 };
    }
    const order: ComponentName[][] = [['postgres'], ['kafka', 'registry'], ['connect']];
    const all = order.flat().map((n) => this.components[n]);
    const alreadyRunning = all.filter((c) => c.pid() !== undefined).map((c) => c.name);
    const toStart = all.filter((c) => !alreadyRunning.includes(c.name));
    await this.preflight(toStart);

    const artifacts = toStart.some((c) => c.name !== 'postgres')
      ? await ensureArtifacts(this.config.stack, this.config.versions, progress)
      : artifactPaths(this.config.stack, this.config.versions);

    const started: ComponentName[] = [];
    for (const wave of order) {
      await Promise.all(
        wave.map(async (name) => {
          const component = this.components[name];
          const t = Date.now();
          let pid = component.pid();
          if (pid !== undefined) {
            progress(`${name}: already running (pid ${pid})`);
          } else {
            progress(`${name}: starting…`);
            pid = await component.start(artifacts, progress);
            started.push(name);
          }
          await this.awaitReady(component, pid);
          progress(`${name}: ready at ${component.url} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
        }),
      );
    }
    return { mode: 'local', started, alreadyRunning, elapsedMs: Date.now() - t0 };
  }

  /**
   * A stack the user brings must answer on all four addresses before anything is started on it:
   * otherwise one line naming each variable that does not work, and why.
   */
  private async checkExternal(): Promise<void> {
    const problems: string[] = [];
    for (const { variable, address: value, problem } of await this.probeExternal()) {
      if (problem === undefined) continue;
      const hint = variable === 'DATABASE_URL' && /database .* does not exist/.test(problem)
        ? ' (DATABASE_URL names the server; the database in it must exist — sagaline creates its own databases beside it, e.g. end the URL with /postgres)'
        : '';
      problems.push(`${variable}=${value}: ${problem}${hint}`);
    }
    if (problems.length > 0) throw new StackError('NOT_READY', `the stack named by the environment is not usable: ${problems.join('; ')}`);
  }

  /** Waits for the readiness probe; fails at once, with the log's tail, if the process `pid` exits meanwhile. */
  private async awaitReady(component: Component, pid: number): Promise<void> {
    try {
      await waitFor(`${component.name} to become ready`, async () => (await component.probe()) === undefined, {
        timeoutMs: this.config.stack.startTimeoutMs,
        intervalMs: 500,
        abortIf: () => {
          if (!isAlive(pid)) throw this.died(component);
        },
      });
    } catch (err) {
      if (err instanceof TimeoutError) {
        throw new StackError('NOT_READY', `${component.name} did not become ready: ${err.message}; see \`sagaline stack logs ${component.name}\``, {
          logTail: tail(component.logFile),
          cause: err,
        });
      }
      throw err;
    }
  }

  private died(component: Component): StackError {
    return new StackError('COMPONENT_DIED', `${component.name} exited while starting; last lines of ${component.logFile}:`, {
      logTail: tail(component.logFile),
    });
  }

  /** Stops the running components (`only`: just those), clients before the servers they use. */
  async down(progress: Progress, only?: readonly ComponentName[]): Promise<ComponentName[]> {
    if (this.config.mode === 'external') {
      progress('using an external stack (KAFKA_BROKERS etc. are set): nothing to stop');
      return [];
    }
    const stopped: ComponentName[] = [];
    // Reverse of start order: clients before the servers they use.
    for (const name of ['connect', 'registry', 'kafka', 'postgres'] as const) {
      if (only && !only.includes(name)) continue;
      const component = this.components[name];
      const pid = component.pid() ?? component.anyPid?.();
      if (pid === undefined) continue;
      progress(`${name}: stopping (pid ${pid})…`);
      await component.stop();
      stopped.push(name);
    }
    return stopped;
  }

  /** Each component of a brought stack, the variable naming it, its address (no password) and its probe's verdict. */
  private probeExternal(): Promise<{ name: ComponentName; variable: string; address: string; problem: string | undefined }[]> {
    const { databaseUrl, kafkaBrokers, kafkaSecurity, connectUrl, schemaRegistryUrl, schemaRegistry } = this.config;
    const entries: [ComponentName, string, string, Promise<string | undefined>][] = [
      ['postgres', 'DATABASE_URL', redactUrl(databaseUrl), probePostgres(databaseUrl)],
      ['kafka', 'KAFKA_BROKERS', kafkaBrokers.join(','), probeKafka(kafkaBrokers, 1, kafkaSecurity)],
      ['connect', 'CONNECT_URL', connectUrl, probeConnect(connectUrl)],
      ['registry', 'SCHEMA_REGISTRY_URL', schemaRegistryUrl, probeRegistry(schemaRegistry)],
    ];
    return Promise.all(entries.map(async ([name, variable, address, probe]) => ({ name, variable, address, problem: await probe })));
  }

  async status(): Promise<ComponentStatus[]> {
    if (this.config.mode === 'external') {
      return (await this.probeExternal()).map(({ name, address, problem }) => ({ name, url: address, healthy: problem === undefined, ...(problem ? { detail: problem } : {}) }));
    }
    return Promise.all(
      (['postgres', 'kafka', 'connect', 'registry'] as const).map(async (name): Promise<ComponentStatus> => {
        const component = this.components[name];
        const pid = component.pid();
        if (pid === undefined) return { name, url: component.url, healthy: false, detail: component.partial?.() ?? 'not running' };
        const problem = await component.probe();
        const rss = residentMb(pid);
        return {
          name,
          url: component.url,
          healthy: problem === undefined,
          pid,
          ...(rss === undefined ? {} : { rssMb: rss }),
          ...(problem ? { detail: problem } : {}),
        };
      }),
    );
  }

  logFile(name: ComponentName): string {
    return this.components[name].logFile;
  }
}
