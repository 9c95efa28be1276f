/** Commands that run and drive the saga: processor(s), model add, train, status, list. */
import { Command, Option } from 'commander';
import { pgPool } from '../core/clients.ts';
import { databaseUrlFor, ENGINE_DATABASE, loadConfig } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { isProcessorName, PROCESSOR_NAMES, startProcessor } from '../processors/index.ts';
import { addModel, DATABASE as MODEL_DATABASE } from '../processors/model-service/service.ts';
import { getSaga, listSagas, parseStatus, type SagaSummary } from '../processors/saga-state/queries.ts';
import { apiDown, apiStatus, processorsDown, processorsStatus, processorsUp } from '../processors/supervisor.ts';
import { readConfigFile, requestTraining } from '../processors/training-requests/request.ts';
import { printJson, progress, table } from './output.ts';
import { CONFIG_OPTION, ownSagaList, ownSagaStatus } from './own-saga-commands.ts';
import pg from 'pg';

const STEP_CHOICES = ['reserve', 'allocate', 'train', 'update', 'audit'];

export function processorCommand(): Command {
  return new Command('processor')
    .description('run one processor in the foreground until Ctrl-C')
    .addArgument(new Command().createArgument('<name>', PROCESSOR_NAMES.join(' | ')).choices(PROCESSOR_NAMES))
    .action(async (name: string) => {
      if (!isProcessorName(name)) throw new SagalineError('REQUEST_INVALID', `unknown processor ${name}`);
      const running = await startProcessor(name, loadConfig());
      // In the background its output is a log file of JSON lines (pino logs it started); a terminal gets a hint.
      if (process.stderr.isTTY) progress(`${name} running; Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.stop();
      if (process.stderr.isTTY) progress(`${name} stopped`);
    });
}

export function processorsCommand(): Command {
  const cmd = new Command('processors').description('run all processors in the background (pids with the stack state, logs in files)');
  cmd.command('up').description('start every processor that is not running').action(() => {
    const started = processorsUp(loadConfig());
    progress(started.length ? `started: ${started.join(', ')}` : 'all processors already running');
  });
  cmd.command('down').description('stop the processors and the background HTTP API').action(async () => {
    const config = loadConfig();
    const stopped = [...((await apiDown(config)) ? ['api'] : []), ...(await processorsDown(config))];
    progress(stopped.length ? `stopped: ${stopped.join(', ')}` : 'no processor was running');
  });
  cmd.command('status').description('which processors (and the background HTTP API) run, their pids and logs').option('--json', 'print as JSON').action((opts: { json?: boolean }) => {
    const config = loadConfig();
    const status = processorsStatus(config);
    const api = apiStatus(config);
    if (opts.json) return printJson({ processors: status, api });
    console.log(table([...status.map((s) => ({ processor: s.name, running: s.running ? 'yes' : 'no', pid: s.pid, log: s.log })), { processor: 'api', running: api.running ? 'yes' : 'no', pid: api.pid, log: api.log }]));
  });
  return cmd;
}

export function modelCommand(): Command {
  const cmd = new Command('model').description('models known to model-service');
  cmd
    .command('add')
    .description('register a model for a tenant (idempotent)')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--model <model>', 'model id')
    .option('--version <version>', 'current version', 'v1')
    .option('--json', 'print as JSON')
    .action(async (opts: { tenant: string; model: string; version: string; json?: boolean }) => {
      const config = loadConfig();
      const pool = pgPool(config, MODEL_DATABASE, 1);
      try {
        const change = await addModel(pool, { tenantId: opts.tenant, modelId: opts.model, version: opts.version });
        if (opts.json) return printJson({ tenantId: opts.tenant, modelId: opts.model, version: opts.version, change });
        progress(`model ${opts.model} for tenant ${opts.tenant}: ${change === 'created' ? `added at version ${opts.version}` : 'already registered'}`);
      } finally {
        await pool.end();
      }
    });
  return cmd;
}

export function trainCommand(): Command {
  return new Command('train')
    .description('start a training saga (writes TrainingRequested through the outbox) and print its id')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--model <model>', 'model id (see `sagaline model add`)')
    .option('--config <file.json>', 'training config: algorithm, hyperparameters, datasetUri, validationSplit, resources {cpuCores, memoryGb, gpuCount, storageGb}')
    .addOption(new Option('--fail-at <step>', 'make this step report a failure (travels in the request)').choices(STEP_CHOICES))
    .addOption(new Option('--hang-at <step>', 'make this step never answer, so its deadline fires').choices(STEP_CHOICES))
    .option('--duration-ms <ms>', 'simulated training duration', '1000')
    .option('--transient <KEY=N,…>', 'simulate transient failures: the first N attempts of a step (RESERVE…) or compensation (RESERVE_COMPENSATION…) fail')
    .option('--json', 'print {"sagaId": …}')
    .action(async (opts: { tenant: string; model: string; config?: string; failAt?: string; hangAt?: string; durationMs: string; transient?: string; json?: boolean }) => {
      const duration = Number(opts.durationMs);
      if (!Number.isInteger(duration) || duration < 0) throw new SagalineError('REQUEST_INVALID', `--duration-ms must be a non-negative integer, got "${opts.durationMs}"`);
      const sagaId = await requestTraining(loadConfig(), {
        tenantId: opts.tenant,
        modelId: opts.model,
        ...(opts.config ? { config: readConfigFile(opts.config) } : {}),
        ...(opts.failAt ? { failAt: opts.failAt } : {}),
        ...(opts.hangAt ? { hangAt: opts.hangAt } : {}),
        trainingDurationMs: duration,
        ...(opts.transient ? { transientFailures: parseTransientOption(opts.transient) } : {}),
      });
      if (opts.json) return printJson({ sagaId });
      console.log(sagaId);
    });
}

function parseTransientOption(value: string): Record<string, number> {
  return Object.fromEntries(
    value.split(',').map((pair) => {
      const [key, count] = pair.split('=');
      if (!key || count === undefined || !/^\d+$/.test(count)) throw new SagalineError('REQUEST_INVALID', `--transient takes KEY=N pairs separated by commas (e.g. RESERVE=2), got "${pair}"`);
      return [key, Number(count)];
    }),
  );
}

function printSaga(s: SagaSummary): void {
  console.log(`saga ${s.sagaId}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`);
  console.log(table(s.steps.map((st) => ({ step: st.name, status: st.status, started: st.startedAt ?? '', finished: st.finishedAt ?? '', reason: st.reason ?? '' }))));
}

export function statusCommand(): Command {
  return new Command('status')
    .description("a saga's state and its per-step table, from the saga-state projection")
    .argument('<sagaId>')
    .option('--json', 'print {"sagaId","state","steps":[{"name","status"}, …]}')
    .option(...CONFIG_OPTION)
    .action(async (sagaId: string, opts: { json?: boolean; config?: string | true }) => {
      if (opts.config !== undefined) return ownSagaStatus(opts.config, sagaId, opts.json === true);
      const pool = new pg.Pool({ connectionString: databaseUrlFor(loadConfig(), ENGINE_DATABASE), max: 1 });
      try {
        const saga = await getSaga(pool, sagaId);
        if (opts.json) return printJson(saga);
        printSaga(saga);
      } finally {
        await pool.end();
      }
    });
}

export function listCommand(): Command {
  return new Command('list')
    .description('sagas, newest first, optionally by state')
    .option('--state <state>', 'NotStarted | InProgress | Completed | Compensating | Compensated | Failed (with --config: Running | Compensating | Completed | Compensated | Parked | Failed)')
    .option('--json', 'print as JSON')
    .option(...CONFIG_OPTION)
    .option('--saga <name>', 'with --config: only this definition\'s instances')
    .option('--tenant <tenant>', 'with --config: only this tenant\'s')
    .action(async (opts: { state?: string; json?: boolean; config?: string | true; saga?: string; tenant?: string }) => {
      if (opts.config !== undefined) return ownSagaList(opts.config, opts, opts.json === true);
      const status = opts.state ? parseStatus(opts.state) : undefined;
      const pool = new pg.Pool({ connectionString: databaseUrlFor(loadConfig(), ENGINE_DATABASE), max: 1 });
      try {
        const sagas = await listSagas(pool, status);
        if (opts.json) return printJson({ sagas: sagas.map((s) => ({ sagaId: s.sagaId, state: s.state, tenantId: s.tenantId, modelId: s.modelId, failedStep: s.failedStep, reason: s.reason })) });
        console.log(table(sagas.map((s) => ({ saga: s.sagaId, state: s.state, tenant: s.tenantId ?? '', model: s.modelId ?? '', reason: s.reason ?? '' }))));
      } finally {
        await pool.end();
      }
    });
}
