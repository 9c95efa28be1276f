import { Command } from 'commander';
import { reportError } from './output.ts';
import { stackCommand } from './stack-command.ts';
import { demoCommand } from './demo-command.ts';
import { provisionCommand } from './provision-command.ts';
import { relayCommand } from './relay-command.ts';
import { listCommand, modelCommand, processorCommand, processorsCommand, statusCommand, trainCommand } from './saga-commands.ts';

const program = new Command('sagaline')
  .description('Event-sourced pipeline for distributed transactions: Postgres outbox → Debezium → Kafka → choreographed sagas')
  .showHelpAfterError()
  .addCommand(stackCommand())
  .addCommand(provisionCommand())
  .addCommand(relayCommand())
  .addCommand(processorCommand())
  .addCommand(processorsCommand())
  .addCommand(modelCommand())
  .addCommand(trainCommand())
  .addCommand(statusCommand())
  .addCommand(listCommand())
  .addCommand(demoCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
