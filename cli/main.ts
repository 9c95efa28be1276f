import { Command } from 'commander';
import { reportError } from './output.ts';
import { stackCommand } from './stack-command.ts';
import { imagesCommand } from './images-command.ts';
import { k8sCommand } from './k8s-command.ts';
import { provisionCommand } from './provision-command.ts';
import { codegenCommand } from './codegen-command.ts';
import { outboxCommand } from './outbox-command.ts';
import { relayCommand } from './relay-command.ts';
import { verifyExportCommand } from './verify-export-command.ts';
import { listCommand, processorsCommand, statusCommand } from './saga-commands.ts';
import { serveCommand } from './serve-command.ts';
import { tokensCommand } from './tokens-command.ts';
import { auditCommand, deadLettersCommand, replayCommand, tailCommand } from './history-commands.ts';
import { definitionsCommand } from './definitions-command.ts';
import { cancelCommand, parkedCommand, resumeCommand, retryCommand, runCommand, skipCommand, startCommand, stuckCommand } from './own-saga-commands.ts';
import { patternCommand, twoPhaseCommitCommand } from './two-phase-commit-command.ts';
import { stopTracing } from '../core/tracing.ts';

const program = new Command('sagaline')
  .description('Event-sourced pipeline for distributed transactions: Postgres outbox → Debezium → Kafka → choreographed sagas')
  .showHelpAfterError()
  .addCommand(stackCommand())
  .addCommand(imagesCommand())
  .addCommand(k8sCommand())
  .addCommand(provisionCommand())
  .addCommand(codegenCommand())
  .addCommand(relayCommand())
  .addCommand(outboxCommand())
  .addCommand(processorsCommand())
  .addCommand(runCommand())
  .addCommand(startCommand())
  .addCommand(statusCommand())
  .addCommand(cancelCommand())
  .addCommand(retryCommand())
  .addCommand(parkedCommand())
  .addCommand(resumeCommand())
  .addCommand(skipCommand())
  .addCommand(stuckCommand())
  .addCommand(listCommand())
  .addCommand(serveCommand())
  .addCommand(tokensCommand())
  .addCommand(auditCommand())
  .addCommand(replayCommand())
  .addCommand(tailCommand())
  .addCommand(deadLettersCommand())
  .addCommand(verifyExportCommand())
  .addCommand(definitionsCommand())
  .addCommand(twoPhaseCommitCommand())
  .addCommand(patternCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
} finally {
  // Spans still buffered (tracing on) are sent before the process ends.
  await stopTracing();
}
