/** `sagaline serve`: the HTTP API in the foreground until Ctrl-C (or SIGTERM). */
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { buildApi } from '../api/server.ts';
import { UPDATE_MODEL_ACTIONS } from '../coordinator/update-model.ts';
import { progress } from './output.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';
import { loadSagaConfig } from './saga-config.ts';
import { sagaClient, type SagaClient } from '../processors/engine/client.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the HTTP API (sagas, their events, health, Prometheus metrics) on 127.0.0.1 until Ctrl-C')
    .option('--port <port>', 'TCP port (default: SAGALINE_API_PORT, or 28080)')
    .option(...CONFIG_OPTION)
    .action(async (opts: { port?: string; config?: string | true }) => {
      const config = loadConfig();
      const port = opts.port === undefined ? config.api.port : Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`--port must be a TCP port between 1 and 65535, got "${opts.port}"`);
      const own = opts.config === undefined ? undefined : await loadSagaConfig(opts.config);
      let client: Promise<SagaClient> | undefined;
      const definedSagas = own && {
        sagas: own.sagas,
        client: () => (client ??= sagaClient(own.sagas, { config, schemas: own.schemas }).catch((err: unknown) => {
          client = undefined; // the registry may be back next time
          throw err;
        })),
      };
      const app = buildApi(config, { twoPhaseCommitActions: UPDATE_MODEL_ACTIONS, ...(definedSagas ? { definedSagas } : {}) });
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
