/** `sagaline verify-export`: checks that an export file is complete and unchanged since it was written. */
import { Command } from 'commander';
import { verifyExport } from '../audit/export.ts';
import { printJson } from './output.ts';

export function verifyExportCommand(): Command {
  return new Command('verify-export')
    .description('check that an export (replay --export) is complete and unchanged: every line hash-chained to the one before it, from the header to the end record')
    .argument('<file>')
    .option('--json', 'print {"ok":true,"messages","lines","lastHash"} or {"ok":false,"line","reason"}')
    .action(async (file: string, opts: { json?: boolean }) => {
      const result = await verifyExport(file);
      if (!result.ok) process.exitCode = 1;
      if (opts.json) {
        printJson(result.ok ? result : { ok: false, line: result.line, reason: result.reason });
      } else if (result.ok) {
        console.log(`ok: ${result.messages} messages, chain intact (last hash ${result.lastHash})`);
      } else {
        process.stderr.write(`sagaline: export ${file} is not intact: line ${result.line}: ${result.reason}\n`);
      }
    });
}
