/** Commands that run a project's sagas in the background and read where they stand: processors, status, list. */
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { loadProject } from '../processors/engine/project.ts';
import { apiDown, apiStatus, apiUp, processorsDown, processorsStatus, processorsUp, waitForProcessors } from '../processors/supervisor.ts';
import { printJson, progress, table } from './output.ts';
import { CONFIG_OPTION, ownSagaList, ownSagaStatus } from './own-saga-commands.ts';

export function processorsCommand(): Command {
  const cmd = new Command('processors').description("run a project's services and its saga monitor as background processes (pids with the stack state, logs in files)");
  cmd
    .command('up')
    .description('start every process of the project that is not running: per service and for the saga monitor, one (or --instances N)')
    .option(...CONFIG_OPTION)
    .option('--instances <n>', 'processes per service and for the monitor, sharing their consumer groups (default: as many as the last `up`, else 1)')
    .option('--no-wait', 'return at once instead of waiting until every process consumes')
    .option('--api', 'also run the HTTP API for the project in the background (`sagaline serve`), and wait until it answers')
    .action(async (opts: { config?: string | true; wait: boolean; api?: boolean; instances?: string }) => {
      const config = loadConfig();
      const instances = opts.instances === undefined ? undefined : Number(opts.instances);
      if (instances !== undefined && !(Number.isInteger(instances) && instances >= 1 && instances <= 64)) throw new ConfigError(`--instances must be a whole number from 1 to 64, got "${opts.instances}"`);
      const project = await loadProject(opts.config ?? true);
      const started = processorsUp(config, project, process.env, undefined, instances);
      if (opts.wait) await waitForProcessors(config, project);
      progress(started.length ? `started: ${started.join(', ')}${opts.wait ? ' (consuming)' : ''}` : 'all processes already running');
      if (opts.api) progress(`HTTP API on ${await apiUp(config, project)}`);
    });
  cmd
    .command('down')
    .description("stop the project's processes and the background HTTP API")
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string | true }) => {
      const config = loadConfig();
      const project = await loadProject(opts.config ?? true);
      const stopped = [...((await apiDown(config)) ? ['api'] : []), ...(await processorsDown(config, project))];
      progress(stopped.length ? `stopped: ${stopped.join(', ')}` : 'no process was running');
    });
  cmd
    .command('status')
    .description("which of the project's processes (and the background HTTP API) run, their pids, metrics ports and logs")
    .option(...CONFIG_OPTION)
    .option('--json', 'print as JSON')
    .action(async (opts: { config?: string | true; json?: boolean }) => {
      const config = loadConfig();
      const status = processorsStatus(config, await loadProject(opts.config ?? true));
      const api = apiStatus(config);
      if (opts.json) return printJson({ processors: status, api });
      console.log(table([...status.map((s) => ({ process: s.name, running: s.running ? 'yes' : 'no', pid: s.pid, metrics: s.metricsPort, log: s.log })), { process: 'api', running: api.running ? 'yes' : 'no', pid: api.pid, metrics: '', log: api.log }]));
    });
  return cmd;
}

export function statusCommand(): Command {
  return new Command('status')
    .description("one saga instance from the monitor's projection: its status and a table of its steps")
    .argument('<sagaId>')
    .option(...CONFIG_OPTION)
    .option('--wait [ms]', 'first wait until it ends or parks (at most ms, default 60000); then print it as it stands')
    .option('--json', 'print the instance as JSON')
    .action(async (sagaId: string, opts: { json?: boolean; config?: string | true; wait?: string | true }) => {
      const waitMs = opts.wait === undefined ? undefined : opts.wait === true ? 60_000 : Number(opts.wait);
      if (waitMs !== undefined && !(Number.isInteger(waitMs) && waitMs > 0)) throw new ConfigError(`--wait must be a positive number of milliseconds, got "${opts.wait}"`);
      await ownSagaStatus(opts.config ?? true, sagaId, opts.json === true, waitMs);
    });
}

export function listCommand(): Command {
  return new Command('list')
    .description("the project's saga instances, newest first")
    .option(...CONFIG_OPTION)
    .option('--saga <name>', "only this definition's instances")
    .option('--state <status>', 'Running | Compensating | Completed | Compensated | Parked | Failed')
    .option('--tenant <tenant>', "only this tenant's")
    .option('--json', 'print as JSON')
    .action(async (opts: { state?: string; json?: boolean; config?: string | true; saga?: string; tenant?: string }) => ownSagaList(opts.config ?? true, opts, opts.json === true));
}
