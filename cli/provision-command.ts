import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { provision } from '../infra/provision.ts';
import { printJson, progress, table } from './output.ts';

export function provisionCommand(): Command {
  return new Command('provision')
    .description('create source databases and outbox tables, the catalogue\'s topics, register schemas and connectors (idempotent)')
    .option('--json', 'print what exists and what changed as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const report = await provision(config, opts.json ? () => undefined : progress);
      if (opts.json) return printJson(report);
      console.log(table([
        ...report.databases.map((d) => ({ kind: 'database', name: d.name, change: d.change, detail: '' })),
        ...report.topics.map((t) => ({ kind: `topic (${t.kind})`, name: t.name, change: t.change, detail: `${t.partitions} partitions${t.changes ? `; ${t.changes.join(', ')}` : ''}` })),
        ...report.schemas.map((s) => ({ kind: 'schema', name: s.subject, change: s.change, detail: `id ${s.id}` })),
        ...report.connectors.map((c) => ({ kind: 'connector', name: c.name, change: c.change, detail: 'slotName' in c ? `slot ${c.slotName}` : c.reason })),
      ]));
      progress(report.changed ? 'provisioned' : 'everything was already provisioned: nothing changed');
    });
}
