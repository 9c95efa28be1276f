import { Command } from 'commander';
import { kafkaClient } from '../core/clients.ts';
import { databaseUrlFor, loadConfig } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import { registeredSources } from '../outbox-connector/sources-registry.ts';
import { PollingRelay } from '../outbox-connector/polling-relay.ts';
import { progress } from './output.ts';

export function relayCommand(): Command {
  return new Command('relay')
    .description('run the polling relay for every source database in the foreground (SAGALINE_RELAY=polling; for databases without logical replication)')
    .action(async () => {
      const config = loadConfig();
      if (config.relay !== 'polling') {
        throw new SagalineError('RELAY_MODE', 'SAGALINE_RELAY is "debezium": Debezium publishes the outboxes; set SAGALINE_RELAY=polling to use the polling relay');
      }
      const definitions = (await registeredSources(config)).filter((s) => s.relay === 'polling').map((s) => ({ ...s, name: s.connector }));
      if (definitions.length === 0) throw new SagalineError('RELAY_MODE', 'no outbox was provisioned with SAGALINE_RELAY=polling: run `npx sagaline provision` with it first');
      const connect = new ConnectClient(config.connectUrls);
      for (const d of definitions) {
        if (await connect.status(d.name).catch(() => undefined)) {
          throw new SagalineError('RELAY_MODE', `connector ${d.name} is registered: it and the polling relay would both publish ${d.database}; delete it first`);
        }
      }
      const log = createLogger(config, 'relay');
      const kafka = kafkaClient(config, 'sagaline-relay');
      const relays = definitions.map(
        (d) => new PollingRelay(kafka, { name: d.database, databaseUrl: databaseUrlFor(config, d.database), batchSize: config.relayBatchSize, idlePollMs: config.relayIdlePollMs, log }),
      );
      for (const r of relays) await r.start();
      progress(`polling relay running for ${definitions.map((d) => d.database).join(', ')}; Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      for (const r of relays) await r.stop();
      progress(`stopped; relayed ${relays.reduce((n, r) => n + r.relayed, 0)} messages`);
    });
}
