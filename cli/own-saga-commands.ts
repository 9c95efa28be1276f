/**
 * Commands for a project's own sagas, from its config module (`--config [file]`, default
 * sagaline.config.mjs): run its participants and the monitor, start a saga, read where sagas stand.
 * (`sagaline provision --config` provisions them.)
 */
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError, TimeoutError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { createLogger } from '../core/log.ts';
import { sagaClient, type SagaRecord } from '../processors/engine/client.ts';
import { runSagaMonitor } from '../processors/engine/monitor.ts';
import { runParticipant } from '../processors/engine/run-participant.ts';
import { parkedMessages, resumeParked, skipParked, stuckSagas } from '../processors/engine/parked.ts';
import { createProcessorMetrics, serveMetrics, type MetricsServer } from '../processors/runtime/metrics.ts';
import type { InstanceStatus } from '../processors/saga/instance.ts';
import { definitionOfInstance, stepNamed } from '../processors/saga/define-saga.ts';
import { printJson, progress, table } from './output.ts';
import { DEFAULT_CONFIG_FILE, loadProject, sagaNamed, type Project } from '../processors/engine/project.ts';

export const CONFIG_OPTION = ['--config [file]', `the project's config module of sagas, participants and schemas (default ${DEFAULT_CONFIG_FILE})`] as const;
const STATUSES: InstanceStatus[] = ['Running', 'Compensating', 'Completed', 'Compensated', 'Parked', 'Failed'];

async function withClient<T>(config: Project, work: (client: Awaited<ReturnType<typeof sagaClient>>) => Promise<T>): Promise<T> {
  const client = await sagaClient(config.sagas, { config: loadConfig(), schemas: config.schemas });
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

export function runCommand(): Command {
  return new Command('run')
    .description("run the config's participants and the saga monitor in this process, until SIGINT or SIGTERM")
    .option(...CONFIG_OPTION)
    .option('--service <name...>', "run only these services' participants")
    .option('--no-monitor', 'do not run the saga monitor here (one process per deployment runs it)')
    .option('--monitor-only', 'run only the saga monitor, no participant')
    .option('--metrics-port <port>', 'serve GET /metrics (Prometheus), /metrics.json and /health on <port> (of SAGALINE_HTTP_HOST, default 127.0.0.1)')
    .action(async (opts: { config?: string | true; service?: string[]; monitor: boolean; monitorOnly?: boolean; metricsPort?: string }) => {
      const project = await loadProject(opts.config ?? true);
      const config = loadConfig();
      const known = new Set(project.participants.map((p) => p.service));
      for (const s of opts.service ?? []) if (!known.has(s)) throw new ConfigError(`--service ${s}: ${project.file} has no participant of that service (it has ${[...known].join(', ') || 'none'})`);
      if (opts.monitorOnly && (opts.service || !opts.monitor)) throw new ConfigError('--monitor-only runs the monitor alone: not with --service or --no-monitor');
      const metricsPort = opts.metricsPort === undefined ? undefined : Number(opts.metricsPort);
      if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort >= 1 && metricsPort <= 65535)) throw new ConfigError(`--metrics-port must be a TCP port between 1 and 65535, got "${opts.metricsPort}"`);
      const chosen = opts.monitorOnly ? [] : project.participants.filter((p) => !opts.service || opts.service.includes(p.service));
      const name = opts.monitorOnly ? 'saga-monitor' : opts.service?.length === 1 ? (opts.service[0] as string) : 'sagaline-run';
      const logger = createLogger(config, name);
      const metrics = metricsPort === undefined ? undefined : createProcessorMetrics(name);
      // Bound first: a port in use fails the start before anything consumes.
      const server: MetricsServer | undefined = metrics && metricsPort !== undefined ? await serveMetrics(metrics.registry, metricsPort, undefined, config.api.host) : undefined;
      const options = { config, schemas: project.schemas, logger, ...(metrics ? { metrics } : {}) };
      const running = [];
      try {
        if (opts.monitor) running.push(await runSagaMonitor(project.sagas, options));
        // The versions of one service's participant in one saga run together: each instance under its own.
        const groups = new Map<string, typeof chosen>();
        for (const p of chosen) groups.set(`${p.saga.name}/${p.service}`, [...(groups.get(`${p.saga.name}/${p.service}`) ?? []), p]);
        for (const versions of groups.values()) running.push(await runParticipant(versions, options));
      } catch (err) {
        for (const r of running.reverse()) await r.stop().catch(() => undefined);
        await server?.close();
        throw err;
      }
      const names = [...new Set(chosen.map((p) => `${p.service} (${p.saga.name})`))];
      progress(`running ${[...(opts.monitor ? ['the saga monitor'] : []), ...names].join(', ')}${server ? `; metrics on ${server.url}/metrics` : ''}; Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      for (const r of running.reverse()) await r.stop();
      await server?.close();
      progress('stopped');
    });
}

export function startCommand(): Command {
  return new Command('start')
    .description('start a saga of the config: its start message, validated by its schema, through the engine\'s outbox; prints its id')
    .argument('<saga>', 'the saga definition\'s name')
    .requiredOption('--payload <json>', 'the start message, as JSON')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--id <sagaId>', 'the saga id (default: a new UUID)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print {"sagaId": …}')
    .action(async (name: string, opts: { payload: string; tenant: string; id?: string; config?: string | true; json?: boolean }) => {
      const sagaConfig = await loadProject(opts.config ?? true);
      const saga = sagaNamed(sagaConfig, name);
      let payload: unknown;
      try {
        payload = JSON.parse(opts.payload);
      } catch (err) {
        throw new ConfigError(`--payload is not JSON: ${(err as Error).message}`);
      }
      const sagaId = await withClient(sagaConfig, (client) => client.start(saga, payload, { tenantId: opts.tenant, ...(opts.id ? { sagaId: opts.id } : {}) }));
      if (opts.json) return printJson({ sagaId });
      console.log(sagaId);
    });
}

function printRecord(r: SagaRecord, project: Project): void {
  console.log(`saga ${r.sagaId} (${r.saga} v${r.version}, tenant ${r.tenantId}): ${r.status}${r.state.reason ? ` (${r.state.reason})` : ''}`);
  // In the definition's order (the stored state keeps its keys in no particular one).
  const declared = project.sagas.find((s) => s.name === r.saga && s.version === r.version);
  // A posted saga's steps are its own (its start message lists them), each owned by the service it calls.
  let definition = declared;
  try {
    if (declared) definition = definitionOfInstance(declared, r.state.start.payload);
  } catch {
    definition = undefined;
  }
  const order = definition ? definition.steps.map((s) => s.name) : Object.keys(r.state.steps);
  console.log(table(order.filter((step) => r.state.steps[step]).map((step) => {
    const s = r.state.steps[step]!;
    const service = definition ? { service: stepNamed(definition, step)?.owner ?? '' } : {};
    return { step, ...service, status: s.status, attempts: s.attempts, started: s.startedAt ?? '', ended: s.endedAt ?? '', reason: s.reason ?? '' };
  })));
}

/** `status <id> --config`: one instance from the monitor's projection. */
export async function ownSagaStatus(option: string | true, sagaId: string, json: boolean, waitMs?: number): Promise<void> {
  const project = await loadProject(option);
  const ended = (r: SagaRecord | undefined) => r !== undefined && ['Completed', 'Compensated', 'Failed', 'Parked'].includes(r.status);
  const record = await withClient(project, async (client) => {
    if (waitMs === undefined) return client.get(sagaId);
    // Until it ends (Completed, Compensated, Failed) or parks, or the wait is over: then as it stands.
    return waitFor(`saga ${sagaId} to end`, async () => {
      const r = await client.get(sagaId);
      return ended(r) ? r : undefined;
    }, { timeoutMs: waitMs, intervalMs: 250 }).catch(async (err: unknown) => {
      if (err instanceof TimeoutError) return client.get(sagaId);
      throw err;
    });
  });
  if (!record) throw new ConfigError(`no saga ${sagaId} in the projection (not started, or its start not yet delivered: is the saga monitor running — \`sagaline processors up\` or \`sagaline run\`?)`);
  if (json) return printJson(record);
  printRecord(record, project);
}

/** `list --config`: instances, newest first. */
export async function ownSagaList(option: string | true, filter: { saga?: string; state?: string; tenant?: string }, json: boolean): Promise<void> {
  const sagaConfig = await loadProject(option);
  if (filter.saga) sagaNamed(sagaConfig, filter.saga);
  if (filter.state && !STATUSES.includes(filter.state as InstanceStatus)) throw new ConfigError(`--state ${filter.state}: one of ${STATUSES.join(', ')}`);
  const records = await withClient(sagaConfig, (client) =>
    client.list({ ...(filter.saga ? { saga: filter.saga } : {}), ...(filter.state ? { status: filter.state as InstanceStatus } : {}), ...(filter.tenant ? { tenantId: filter.tenant } : {}) }),
  );
  if (json) return printJson({ sagas: records.map((r) => ({ sagaId: r.sagaId, saga: r.saga, version: r.version, status: r.status, tenantId: r.tenantId, startedAt: r.startedAt, reason: r.state.reason ?? null })) });
  console.log(table(records.map((r) => ({ saga: r.sagaId, definition: `${r.saga} v${r.version}`, status: r.status, tenant: r.tenantId, started: r.startedAt.toISOString(), reason: r.state.reason ?? '' }))));
}

/** `cancel <id>` and `retry <id>`: an operator action on one instance, recorded in its log. */
function actionCommand(name: 'cancel' | 'retry', description: string): Command {
  return new Command(name)
    .description(description)
    .argument('<sagaId>')
    .requiredOption('--reason <text>', 'why: recorded in the saga\'s log')
    .option('--by <name>', 'who: recorded in the saga\'s log (default: the user running the command)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print {"sagaId","messageId","type","status"}')
    .action(async (sagaId: string, opts: { reason: string; by?: string; config?: string | true; json?: boolean }) => {
      const project = await loadProject(opts.config ?? true);
      const action = { by: opts.by ?? userInfo().username, reason: opts.reason };
      const taken = await withClient(project, (client) => (name === 'cancel' ? client.cancel(sagaId, action) : client.retry(sagaId, action)));
      if (opts.json) return printJson(taken);
      console.log(`${taken.type} written for saga ${sagaId}: it goes on ${taken.status} (watch it with \`sagaline status ${sagaId} --config\`)`);
    });
}

export const cancelCommand = () => actionCommand('cancel', 'cancel a running saga: what has run is compensated (refused once its pivot has started); recorded in its log');
export const retryCommand = () => actionCommand('retry', "retry the compensation of a Failed saga, once the cause of the failure is fixed; recorded in its log");

/** `resume <id> --service S` and `skip <id> --service S`: a message a participant parked. */
function parkedActionCommand(name: 'resume' | 'skip', description: string): Command {
  return new Command(name)
    .description(description)
    .argument('<sagaId>')
    .requiredOption('--service <name>', 'the participant that parked the message (see `sagaline parked`)')
    .requiredOption('--reason <text>', 'why: recorded in the saga\'s log')
    .option('--by <name>', 'who: recorded in the saga\'s log (default: the user running the command)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print {"sagaId","service","messageId","type","recordedAs"}')
    .action(async (sagaId: string, opts: { service: string; reason: string; by?: string; config?: string | true; json?: boolean }) => {
      const project = await loadProject(opts.config ?? true);
      const action = { by: opts.by ?? userInfo().username, reason: opts.reason };
      const done = await (name === 'resume' ? resumeParked : skipParked)(loadConfig(), project, sagaId, opts.service, action);
      if (opts.json) return printJson(done);
      console.log(name === 'resume' ? `${done.type} ${done.messageId} of saga ${sagaId} is due again at ${opts.service}` : `${done.type} ${done.messageId} of saga ${sagaId} skipped at ${opts.service}; its later messages there go on`);
    });
}

export const resumeCommand = () => parkedActionCommand('resume', 'handle again a message a participant parked (a non-transient error), once its cause is fixed; recorded in the saga\'s log');
export const skipCommand = () => parkedActionCommand('skip', 'record a parked message as handled without acting on it, so the saga\'s later messages at that participant go on; recorded in the saga\'s log');

export function parkedCommand(): Command {
  return new Command('parked')
    .description("messages the project's participants parked (a non-transient error), each blocking its saga there until resumed or skipped")
    .option('--service <name>', "only this participant's")
    .option('--saga <id>', "only this saga's")
    .option(...CONFIG_OPTION)
    .option('--json', 'print them as JSON')
    .action(async (opts: { service?: string; saga?: string; config?: string | true; json?: boolean }) => {
      const project = await loadProject(opts.config ?? true);
      const parked = await parkedMessages(loadConfig(), project, { ...(opts.service ? { service: opts.service } : {}), ...(opts.saga ? { sagaId: opts.saga } : {}) });
      if (opts.json) return printJson(parked);
      if (parked.length === 0) return console.log('no parked message');
      console.log(table(parked.map((m) => ({ saga: m.sagaId, service: m.service, type: m.type, message: m.messageId, attempts: m.attempts, error: m.error }))));
    });
}

export function stuckCommand(): Command {
  return new Command('stuck')
    .description('sagas waiting on a parked message, or past a deadline the monitor has not ruled on, with why')
    .option(...CONFIG_OPTION)
    .option('--json', 'print them as JSON')
    .action(async (opts: { config?: string | true; json?: boolean }) => {
      const project = await loadProject(opts.config ?? true);
      const stuck = await stuckSagas(loadConfig(), project);
      if (opts.json) return printJson(stuck);
      if (stuck.length === 0) return console.log('no stuck saga');
      console.log(table(stuck.map((s) => ({ saga: s.sagaId, definition: s.saga, status: s.status, why: s.reason }))));
    });
}
