/**
 * Commands for a project's own sagas, from its config module (`--config [file]`, default
 * sagaline.config.mjs): run its participants and the monitor, start a saga, read where sagas stand.
 * (`sagaline provision --config` provisions them.)
 */
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { sagaClient, type SagaRecord } from '../processors/engine/client.ts';
import { runSagaMonitor } from '../processors/engine/monitor.ts';
import { runParticipant } from '../processors/engine/run-participant.ts';
import type { InstanceStatus } from '../processors/saga/instance.ts';
import { printJson, progress, table } from './output.ts';
import { DEFAULT_CONFIG_FILE, loadSagaConfig, sagaNamed, type SagaConfig } from './saga-config.ts';

export const CONFIG_OPTION = ['--config [file]', `the project's config module of sagas, participants and schemas (default ${DEFAULT_CONFIG_FILE})`] as const;
const STATUSES: InstanceStatus[] = ['Running', 'Compensating', 'Completed', 'Compensated', 'Parked', 'Failed'];

async function withClient<T>(config: SagaConfig, work: (client: Awaited<ReturnType<typeof sagaClient>>) => Promise<T>): Promise<T> {
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
    .option('--service <name...>', 'run only these services\' participants')
    .option('--no-monitor', 'do not run the saga monitor here (one process per deployment runs it)')
    .action(async (opts: { config?: string | true; service?: string[]; monitor: boolean }) => {
      const sagaConfig = await loadSagaConfig(opts.config ?? true);
      const config = loadConfig();
      const known = new Set(sagaConfig.participants.map((p) => p.service));
      for (const s of opts.service ?? []) if (!known.has(s)) throw new ConfigError(`--service ${s}: ${sagaConfig.file} has no participant of that service (it has ${[...known].join(', ') || 'none'})`);
      const chosen = sagaConfig.participants.filter((p) => !opts.service || opts.service.includes(p.service));
      const logger = createLogger(config, 'sagaline-run');
      const running = [];
      try {
        if (opts.monitor) running.push(await runSagaMonitor(sagaConfig.sagas, { config, schemas: sagaConfig.schemas, logger }));
        // The versions of one service's participant in one saga run together: each instance under its own.
        const groups = new Map<string, typeof chosen>();
        for (const p of chosen) groups.set(`${p.saga.name}/${p.service}`, [...(groups.get(`${p.saga.name}/${p.service}`) ?? []), p]);
        for (const versions of groups.values()) running.push(await runParticipant(versions, { config, schemas: sagaConfig.schemas, logger }));
      } catch (err) {
        for (const r of running.reverse()) await r.stop().catch(() => undefined);
        throw err;
      }
      const names = [...new Set(chosen.map((p) => `${p.service} (${p.saga.name})`))];
      progress(`running ${[...(opts.monitor ? ['the saga monitor'] : []), ...names].join(', ')}; Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      for (const r of running.reverse()) await r.stop();
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
      const sagaConfig = await loadSagaConfig(opts.config ?? true);
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

function printRecord(r: SagaRecord): void {
  console.log(`saga ${r.sagaId} (${r.saga} v${r.version}, tenant ${r.tenantId}): ${r.status}${r.state.reason ? ` (${r.state.reason})` : ''}`);
  console.log(table(Object.entries(r.state.steps).map(([step, s]) => ({ step, status: s.status, attempts: s.attempts, started: s.startedAt ?? '', ended: s.endedAt ?? '', reason: s.reason ?? '' }))));
}

/** `status <id> --config`: one instance from the monitor's projection. */
export async function ownSagaStatus(option: string | true, sagaId: string, json: boolean): Promise<void> {
  const record = await withClient(await loadSagaConfig(option), (client) => client.get(sagaId));
  if (!record) throw new ConfigError(`no saga ${sagaId} in the projection (not started, or its start not yet delivered: is \`sagaline run\` running the monitor?)`);
  if (json) return printJson(record);
  printRecord(record);
}

/** `list --config`: instances, newest first. */
export async function ownSagaList(option: string | true, filter: { saga?: string; state?: string; tenant?: string }, json: boolean): Promise<void> {
  const sagaConfig = await loadSagaConfig(option);
  if (filter.saga) sagaNamed(sagaConfig, filter.saga);
  if (filter.state && !STATUSES.includes(filter.state as InstanceStatus)) throw new ConfigError(`--state ${filter.state}: one of ${STATUSES.join(', ')}`);
  const records = await withClient(sagaConfig, (client) =>
    client.list({ ...(filter.saga ? { saga: filter.saga } : {}), ...(filter.state ? { status: filter.state as InstanceStatus } : {}), ...(filter.tenant ? { tenantId: filter.tenant } : {}) }),
  );
  if (json) return printJson({ sagas: records.map((r) => ({ sagaId: r.sagaId, saga: r.saga, version: r.version, status: r.status, tenantId: r.tenantId, startedAt: r.startedAt, reason: r.state.reason ?? null })) });
  console.log(table(records.map((r) => ({ saga: r.sagaId, definition: `${r.saga} v${r.version}`, status: r.status, tenant: r.tenantId, started: r.startedAt.toISOString(), reason: r.state.reason ?? '' }))));
}
