import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { provisionSagas } from '../infra/provision-sagas.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';
import { loadProject } from '../processors/engine/project.ts';
import { printJson, progress, table } from './output.ts';

export function provisionCommand(): Command {
  return new Command('provision')
    .description("create what the project's sagas need, derived from their definitions: source databases and outbox tables, topics, schemas, connectors (idempotent)")
    .option('--json', 'print what exists and what changed as JSON')
    .option(...CONFIG_OPTION)
    .action(async (opts: { json?: boolean; config?: string | true }) => {
      const config = loadConfig();
      const own = await loadProject(opts.config ?? true);
      const report = await provisionSagas(config, { sagas: own.sagas, participants: own.participants, schemas: own.schemas, streams: own.streams }, opts.json ? () => undefined : progress);
      if (opts.json) return printJson(report);
      console.log(table([
        ...report.databases.map((d) => ({ kind: 'database', name: d.name, change: d.change, detail: `outbox admits ${d.aggregateTypes.join(', ')}` })),
        ...report.topics.map((t) => ({ kind: `topic (${t.kind})`, name: t.name, change: t.change, detail: `${t.partitions} partitions` })),
        ...report.schemas.map((s) => ({ kind: 'schema', name: s.subject, change: s.change, detail: `id ${s.id}` })),
        ...report.connectors.map((c) => ({ kind: 'connector', name: c.name, change: c.change, detail: `slot ${c.slotName}` })),
      ]));
      progress(`provisioned ${own.sagas.map((s) => s.name).join(', ')} from ${own.file}`);
    });
}
