import { createReadStream, existsSync, mkdirSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BROKERS_FILE, CONNECT_WORKERS_FILE, loadConfig, secureMaterialPaths } from '../core/config.ts';
import { ConfigError, StackError } from '../core/errors.ts';
import { COMPONENT_NAMES, type ComponentName } from '../infra/stack/component.ts';
import { tail } from '../infra/stack/processes.ts';
import { ensureSecureMaterial } from '../infra/stack/secure.ts';
import { Stack } from '../infra/stack/stack.ts';
import { inspectDelivery, type DeliveryStatus } from '../outbox-connector/delivery-health.ts';
import { formatBytes, replicationSlots, type ReplicationSlotStatus } from '../outbox-connector/replication-slots.ts';
import { printJson, progress, table } from './output.ts';

export function stackCommand(): Command {
  const stack = new Command('stack').description('manage the local stack: PostgreSQL, Kafka (KRaft), Kafka Connect + Debezium, Apicurio Registry');

  stack
    .command('up')
    .description('start every component that is not running (downloads artifacts with Maven on first use) and wait until all are ready')
    .option('--brokers <n>', 'Kafka nodes: 1, or 3 for a replicated cluster (KRaft; topics with 3 replicas, min.insync.replicas 2); remembered for later commands, fixed once the data is formatted')
    .option('--connect-workers <n>', 'Kafka Connect workers in one group: 1 to 3 (a crashed worker\'s connectors move to another); remembered for later commands')
    .option('--secure', 'a secured stack: Kafka over SASL_SSL (SCRAM-SHA-512 and PLAIN), the registry over https with basic auth, Postgres requiring TLS; certificates and passwords generated into the state directory; remembered, and only for a new state directory')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean; brokers?: string; connectWorkers?: string; secure?: boolean }) => {
      if (opts.brokers !== undefined) {
        if (opts.brokers !== '1' && opts.brokers !== '3') throw new ConfigError(`--brokers must be 1 or 3, got "${opts.brokers}"`);
        if (process.env.SAGALINE_BROKERS && process.env.SAGALINE_BROKERS !== opts.brokers) throw new ConfigError(`--brokers ${opts.brokers} contradicts SAGALINE_BROKERS=${process.env.SAGALINE_BROKERS}`);
      }
      if (opts.connectWorkers !== undefined) {
        if (!['1', '2', '3'].includes(opts.connectWorkers)) throw new ConfigError(`--connect-workers must be 1, 2 or 3, got "${opts.connectWorkers}"`);
        if (process.env.SAGALINE_CONNECT_WORKERS && process.env.SAGALINE_CONNECT_WORKERS !== opts.connectWorkers) {
          throw new ConfigError(`--connect-workers ${opts.connectWorkers} contradicts SAGALINE_CONNECT_WORKERS=${process.env.SAGALINE_CONNECT_WORKERS}`);
        }
      }
      if (opts.secure) {
        if (process.env.SAGALINE_SECURE && !['1', 'true'].includes(process.env.SAGALINE_SECURE)) throw new ConfigError(`--secure contradicts SAGALINE_SECURE=${process.env.SAGALINE_SECURE}`);
        const { mode, stack } = loadConfig({ ...process.env, SAGALINE_SECURE: 'false' });
        if (mode === 'external') throw new ConfigError('--secure starts a local stack; KAFKA_BROKERS, DATABASE_URL, SCHEMA_REGISTRY_URL and CONNECT_URL name a stack of your own (secure it with SAGALINE_KAFKA_SECURITY_PROTOCOL and the other variables in the README)');
        await ensureSecureMaterial(stack.stateDir);
        progress(`secured stack: certificates in ${secureMaterialPaths(stack.stateDir).tlsDir}, passwords in ${secureMaterialPaths(stack.stateDir).credentialsFile} (readable by you only)`);
      }
      const config = loadConfig({
        ...process.env,
        ...(opts.brokers === undefined ? {} : { SAGALINE_BROKERS: opts.brokers }),
        ...(opts.connectWorkers === undefined ? {} : { SAGALINE_CONNECT_WORKERS: opts.connectWorkers }),
      });
      const s = new Stack(config);
      const result = await s.up(progress);
      if (result.mode === 'local') {
        // Remembered once the stack is up, so every later command (and process) finds every broker and worker.
        mkdirSync(config.stack.stateDir, { recursive: true });
        if (opts.brokers !== undefined) writeFileSync(join(config.stack.stateDir, BROKERS_FILE), `${opts.brokers}\n`);
        if (opts.connectWorkers !== undefined) writeFileSync(join(config.stack.stateDir, CONNECT_WORKERS_FILE), `${opts.connectWorkers}\n`);
      }
      const status = await s.status();
      if (opts.json) return printJson({ ...result, components: status });
      if (result.mode === 'local') {
        progress(
          result.started.length === 0
            ? 'stack already running'
            : `stack up in ${(result.elapsedMs / 1000).toFixed(1)} s (started: ${result.started.join(', ')})`,
        );
        // The default depends on where the package lies (core/config.ts), so say where it went.
        progress(`state, data and logs in ${config.stack.stateDir}`);
      }
      console.log(statusTable(status));
      const unhealthy = status.filter((c) => !c.healthy);
      if (unhealthy.length > 0) throw new StackError('NOT_READY', `not healthy after up: ${unhealthy.map((c) => c.name).join(', ')}`);
    });

  stack
    .command('down')
    .description('stop the processes this stack started (and nothing else); data is kept for the next `up`')
    .action(async () => {
      const stopped = await new Stack(loadConfig()).down(progress);
      progress(stopped.length === 0 ? 'nothing was running' : `stopped: ${stopped.join(', ')}`);
    });

  stack
    .command('status')
    .description("each component with its address, health, pid and resident memory; whether each outbox connector really delivers; each replication slot's lag")
    .option('--json', 'print {"components":[{"name","healthy","url",…}],"delivery":[{"connector","healthy","state","detail","task","position",…}],"replicationSlots":[{"slot","database","active","lagBytes","retainedBytes"}]}')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const status = await new Stack(config).status();
      const postgresUp = status.find((c) => c.name === 'postgres')?.healthy === true;
      // Slots live in Postgres: with Postgres down there is nothing to read (null, not an empty list).
      const slots = postgresUp ? await replicationSlots(config.databaseUrl) : null;
      const delivery = postgresUp ? await inspectDelivery(config) : null;
      if (opts.json) return printJson({ components: status, delivery, replicationSlots: slots });
      console.log(statusTable(status));
      if (delivery && delivery.length > 0) {
        console.log('');
        console.log(deliveryTable(delivery));
        for (const d of delivery.filter((d) => !d.healthy)) console.log(`  ${d.connector}: ${d.detail}`);
      }
      if (slots) {
        console.log('');
        console.log(slots.length === 0 ? 'replication slots: none (no connector provisioned)' : slotTable(slots));
      }
      if (status.some((c) => !c.healthy) || delivery?.some((d) => !d.healthy)) process.exitCode = 3;
    });

  stack
    .command('logs')
    .description("print a component's log")
    .addArgument(new Command().createArgument('<component>', COMPONENT_NAMES.join(' | ')).choices(COMPONENT_NAMES))
    .addOption(new Option('-n, --lines <count>', 'how many of the last lines').default('100'))
    .option('-f, --follow', 'keep printing new lines as they are written')
    .action(async (component: ComponentName, opts: { lines: string; follow?: boolean }) => {
      const file = new Stack(loadConfig()).logFile(component);
      if (!existsSync(file)) throw new StackError('STATE_INVALID', `no log for ${component} yet (${file}): has the stack been started?`);
      const lines = Number(opts.lines);
      if (!Number.isInteger(lines) || lines < 0) throw new StackError('COMMAND_FAILED', `--lines must be a non-negative integer, got "${opts.lines}"`);
      console.log(tail(file, lines));
      if (opts.follow) await follow(file);
    });

  return stack;
}

function statusTable(status: Awaited<ReturnType<Stack['status']>>): string {
  return table(
    status.map((c) => ({
      component: c.name,
      healthy: c.healthy ? 'yes' : 'no',
      url: c.url,
      pid: c.pid,
      'rss MB': c.rssMb,
      detail: c.detail?.slice(0, 80),
    })),
  );
}

function deliveryTable(delivery: DeliveryStatus[]): string {
  return table(
    delivery.map((d) => ({
      connector: d.connector,
      delivering: d.healthy ? 'yes' : 'no',
      state: d.state,
      'connector/task': d.task,
      'slot position': d.position?.confirmedFlushLsn ?? '-',
      'last heartbeat': d.lastHeartbeatAt ?? '-',
    })),
  );
}

function slotTable(slots: ReplicationSlotStatus[]): string {
  return table(
    slots.map((s) => ({
      'replication slot': s.slot,
      database: s.database ?? '',
      active: s.active ? 'yes' : 'no',
      lag: formatBytes(s.lagBytes),
      'WAL retained': formatBytes(s.retainedBytes),
    })),
  );
}

function follow(file: string): Promise<void> {
  let position = statSync(file).size;
  return new Promise(() => {
    watch(file, () => {
      const size = statSync(file).size;
      if (size < position) position = 0;
      if (size === position) return;
      createReadStream(file, { start: position, end: size - 1 }).pipe(process.stdout, { end: false });
      position = size;
    });
  });
}
