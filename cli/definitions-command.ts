/** `sagaline definitions check --config`: which in-flight instances the newest version of their saga would fold differently. */
import { Command } from 'commander';
import { readLog } from '../audit/log-reader.ts';
import { historySources } from '../audit/sources.ts';
import { checkVersions, type VersionCheck } from '../audit/version-check.ts';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { loadProject } from '../processors/engine/project.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { printJson, table } from './output.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';

export function definitionsCommand(): Command {
  const cmd = new Command('definitions').description("a project's saga definitions against the event log");
  cmd
    .command('check')
    .description('fold every instance in flight under an older version again under the newest one, from the log, and list those whose state would differ')
    .option(...CONFIG_OPTION)
    .option('--json', 'print [{"saga","newest","checked","differing":[{"sagaId","version","differences"}]}]')
    .action(async (opts: { config?: string | true; json?: boolean }) => {
      const config = loadConfig();
      const project = await loadProject(opts.config ?? true);
      const sources = historySources(project);
      const versioned = [...sources.sagas].filter(([, v]) => v.all.length > 1);
      if (versioned.length === 0) throw new ConfigError(`${project.file} gives one version of each saga (${[...sources.sagas.values()].map((v) => `${v.name} v${v.latest.version}`).join(', ')}): nothing to check; list the version in flight and the new one`);
      const checks: VersionCheck[] = [];
      for (const [topic, versions] of versioned) {
        const messages: DecodedMessage[] = [];
        await readLog(config, { topics: [topic], catalogue: sources.catalogue, onMessage: (m) => void messages.push(m) });
        checks.push(checkVersions(versions, messages));
      }
      if (opts.json) return printJson(checks);
      for (const c of checks) {
        if (c.differing.length === 0) {
          console.log(`${c.saga}: ${c.checked} instance(s) in flight under an older version; none would fold differently under v${c.newest}`);
          continue;
        }
        console.log(`${c.saga}: ${c.differing.length} of ${c.checked} instance(s) in flight under an older version would fold differently under v${c.newest}:`);
        console.log(table(c.differing.map((d) => ({ saga: d.sagaId, version: `v${d.version}`, differences: d.differences.join('; ') }))));
      }
    });
  return cmd;
}
