/**
 * `sagaline 2pc demo | status | recover` (and the hidden `2pc run` the crash demos start as a child
 * process), and `sagaline pattern`: which pattern fits an operation, and why.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError, SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { EXPECTED_OUTCOME, outcomeOf, PAUSE_POINTS, PAUSED_MARKER, runDemo, SCENARIOS, type PausePoint, type Scenario } from '../coordinator/demo.ts';
import { Coordinator } from '../coordinator/engine.ts';
import type { TransactionRecord } from '../coordinator/log.ts';
import { choosePattern, type Consistency } from '../coordinator/pattern.ts';
import { TERMINAL_TRANSACTION_STATES } from '../coordinator/states.ts';
import { UPDATE_MODEL, UPDATE_MODEL_ACTIONS, updateModelParticipants } from '../coordinator/update-model.ts';
import { printJson, progress, table } from './output.ts';

function printTransaction(tx: TransactionRecord): void {
  process.stdout.write(`transaction ${tx.txId} (${tx.operation}): ${tx.state}${tx.decision ? `, decision ${tx.decision}` : ''}${tx.reason ? ` — ${tx.reason}` : ''}\n`);
  process.stdout.write(`${table(tx.participants.map((p) => ({ participant: p.name, database: p.database, state: p.state, vote: p.vote ?? '', error: p.error ?? '' })))}\n`);
}

function demoCommand(): Command {
  return new Command('demo')
    .description('run update_model across model-service and audit-service for real, in one scenario, and print how it ended')
    .addOption(new Option('--scenario <name>', 'what happens during the transaction').choices(SCENARIOS).default('ok'))
    .option('--json', 'print {"outcome","participants":[{"name","state"}],"preparedLeft"} as JSON')
    .action(async (opts: { scenario: Scenario; json?: boolean }) => {
      const config = loadConfig();
      const say = opts.json ? () => undefined : progress;
      const result = await runDemo(config, opts.scenario, createLogger({ logLevel: opts.json ? 'warn' : config.logLevel }, 'coordinator'), say);
      if (opts.json) printJson(result);
      else {
        process.stdout.write(`scenario ${result.scenario}: ${result.outcome}${result.reason ? ` (${result.reason})` : ''}\n`);
        process.stdout.write(`${table(result.participants.map((p) => ({ participant: p.name, state: p.state, vote: p.vote ?? '', error: p.error ?? '' })))}\n`);
        process.stdout.write(`prepared transactions left: ${result.preparedLeft}\n`);
      }
      if (result.outcome !== EXPECTED_OUTCOME[result.scenario] || result.preparedLeft !== 0) process.exitCode = 1;
    });
}

function statusCommand(): Command {
  return new Command('status')
    .description("a transaction's state, decision and participants, from the coordinator's log")
    .argument('<txId>')
    .option('--json', 'print as JSON')
    .action(async (txId: string, opts: { json?: boolean }) => {
      const config = loadConfig();
      const coordinator = await Coordinator.start(config, { log: createLogger(config, 'coordinator'), actions: UPDATE_MODEL_ACTIONS, recoverOnStart: false });
      try {
        const tx = await coordinator.status(txId);
        if (opts.json) printJson(tx);
        else printTransaction(tx);
      } finally {
        await coordinator.close();
      }
    });
}

function recoverCommand(): Command {
  return new Command('recover')
    .description('resolve in-doubt transactions: commit what the log decided to commit, roll back everything else (presumed abort)')
    .option('--tx <txId>', 'keep recovering until this transaction is finished')
    .option('--json', 'print the recovery report as JSON')
    .action(async (opts: { tx?: string; json?: boolean }) => {
      const config = loadConfig();
      const coordinator = await Coordinator.start(config, { log: createLogger(config, 'coordinator'), actions: UPDATE_MODEL_ACTIONS, recoverOnStart: false });
      try {
        let report = await coordinator.recover();
        if (opts.tx) {
          const txId = opts.tx;
          // A killed coordinator's session (and its hold on the transaction) may take a moment to end.
          await waitFor(`transaction ${txId} to be resolved`, async () => {
            const tx = await coordinator.status(txId);
            if (TERMINAL_TRANSACTION_STATES.includes(tx.state)) return true;
            report = await coordinator.recover();
            return false;
          }, { timeoutMs: config.twoPhaseCommit.decisionTimeoutMs + 30_000, intervalMs: 200 });
        }
        if (opts.json) printJson(report);
        else {
          for (const r of report.resolved) process.stdout.write(`resolved ${r.txId}: ${r.decision}\n`);
          for (const gid of report.orphansRolledBack) process.stdout.write(`rolled back ${gid} (not in the log)\n`);
          for (const txId of report.left) process.stdout.write(`left ${txId}: its coordinator is still deciding\n`);
          if (opts.tx) printTransaction(await coordinator.status(opts.tx));
        }
      } finally {
        await coordinator.close();
      }
    });
}

/** The coordinator as its own process, for the crash demos: it can pause (and wait to be killed) at a chosen point. */
function runCommand(): Command {
  return new Command('run')
    .description('run one update_model transaction in this process')
    .requiredOption('--tx <txId>', 'transaction id')
    .requiredOption('--tenant <tenantId>', 'tenant')
    .requiredOption('--model <modelId>', 'model')
    .requiredOption('--version <version>', 'new version')
    .addOption(new Option('--pause-at <point>', `print "${PAUSED_MARKER} <point> <txId>" there and wait`).choices(PAUSE_POINTS))
    .option('--json', 'print the transaction as JSON')
    .action(async (opts: { tx: string; tenant: string; model: string; version: string; pauseAt?: PausePoint; json?: boolean }) => {
      const config = loadConfig();
      const pause = async (point: PausePoint, txId: string) => {
        if (opts.pauseAt !== point) return;
        process.stdout.write(`${PAUSED_MARKER} ${point} ${txId}\n`);
        await new Promise<never>(() => setInterval(() => undefined, 60_000));
      };
      const coordinator = await Coordinator.start(config, {
        log: createLogger(config, 'coordinator'),
        actions: UPDATE_MODEL_ACTIONS,
        hooks: { beforeDecision: (txId) => pause('before-decision', txId), afterDecision: (txId) => pause('after-decision', txId) },
      });
      try {
        await coordinator.create(opts.tx, UPDATE_MODEL, updateModelParticipants({ tenantId: opts.tenant, modelId: opts.model, version: opts.version }));
        const tx = await coordinator.run(opts.tx);
        if (opts.json) printJson(tx);
        else printTransaction(tx);
        if (outcomeOf(tx) === 'unfinished') process.exitCode = 1;
      } finally {
        await coordinator.close();
      }
    });
}

export function twoPhaseCommitCommand(): Command {
  return new Command('2pc')
    .description('two-phase commit coordinator over Postgres prepared transactions (update_model across model- and audit-service)')
    .addCommand(demoCommand())
    .addCommand(statusCommand())
    .addCommand(recoverCommand())
    .addCommand(runCommand(), { hidden: true });
}

export function patternCommand(): Command {
  return new Command('pattern')
    .description('choose between two-phase commit, saga and eventual-consistency reconciliation for an operation, and say why')
    .addOption(new Option('--consistency <kind>', 'what the operation needs').choices(['strong', 'eventual']).makeOptionMandatory())
    .requiredOption('--duration-ms <n>', 'expected duration of the operation, in ms')
    .requiredOption('--participants <n>', 'number of services (databases) it changes')
    .option('--json', 'print {"pattern","reasons"} as JSON')
    .action((opts: { consistency: Consistency; durationMs: string; participants: string; json?: boolean }) => {
      const durationMs = Number(opts.durationMs);
      const participants = Number(opts.participants);
      if (opts.durationMs.trim() === '' || !Number.isFinite(durationMs) || durationMs < 0) throw new ConfigError(`--duration-ms must be a number of milliseconds ≥ 0, got "${opts.durationMs}"`);
      if (!Number.isInteger(participants) || participants < 1) throw new ConfigError(`--participants must be an integer ≥ 1, got "${opts.participants}"`);
      let choice;
      try {
        choice = choosePattern({ consistency: opts.consistency, durationMs, participants });
      } catch (err) {
        if (err instanceof SagalineError) throw new ConfigError(err.message);
        throw err;
      }
      if (opts.json) printJson(choice);
      else process.stdout.write(`${choice.pattern}\n${choice.reasons.map((r) => `  - ${r}`).join('\n')}\n`);
    });
}
