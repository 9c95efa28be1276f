/** `sagaline serve`: the HTTP API in the foreground until Ctrl-C (or SIGTERM). */
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { buildApi } from '../api/server.ts';
import { progress } from './output.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';
import { loadProject } from '../processors/engine/project.ts';
import { sagaClient, type SagaClient } from '../processors/engine/client.ts';
import { startTracing } from '../core/tracing.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description("run the HTTP API for the project's sagas (start, read, their events, health, Prometheus metrics) on 127.0.0.1 until Ctrl-C")
    .option('--port <port>', 'TCP port (default: SAGALINE_API_PORT, or 28080)')
    .option(...CONFIG_OPTION)
    .action(async (opts: { port?: string; config?: string | true }) => {
      const config = loadConfig();
      const port = opts.port === undefined ? config.api.port : Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`--port must be a TCP port between 1 and 65535, got "${opts.port}"`);
      const project = await loadProject(opts.config ?? true);
      startTracing('sagaline-api');
      let client: Promise<SagaClient> | undefined;
      const served = {
        project,
        client: () => (client ??= sagaClient(project.sagas, { config, schemas: project.schemas }).catch((err: unknown) => {
          client = undefined; // the registry may be back next time
          throw err;
        })),
      };
      const app = buildApi(config, served, { twoPhaseCommitActions: project.twoPhaseCommit?.actions ?? {} });
      app.addHook('onClose', async () => {
        await (await client?.catch(() => undefined))?.close();
      });
      try {
        await app.listen({ host: config.api.host, port });
      } catch (err) {
        await app.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new ConfigError(`port ${port} (HTTP API) is already in use; choose another with --port or SAGALINE_API_PORT`);
        throw err;
      }
      progress(`HTTP API on http://${config.api.host}:${port}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await app.close();
      progress('HTTP API stopped');
    });
}
