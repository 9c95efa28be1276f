/**
 * `sagaline 2pc run | status | recover --config`: the two-phase commit coordinator with the
 * project's actions (its config module's `twoPhaseCommit.actions`, their messages on its
 * `streams`), and `sagaline pattern`: which pattern fits an operation, and why.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError, SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { Coordinator, type CoordinatorOptions } from '../coordinator/engine.ts';
import type { ParticipantSpec, TransactionRecord } from '../coordinator/log.ts';
import type { Config } from '../core/config.ts';
import { loadProject } from '../processors/engine/project.ts';
import { streamTopics } from '../topics/derived.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';
import { choosePattern, type Consistency } from '../coordinator/pattern.ts';
import { TERMINAL_TRANSACTION_STATES } from '../coordinator/states.ts';

/** Printed by `2pc run --pause-at <point>` when it pauses there (and waits to be killed): `<marker> <point> <txId>`. */
export const PAUSED_MARKER = '2PC-PAUSED';
export const PAUSE_POINTS = ['before-decision', 'after-decision'] as const;
export type PausePoint = (typeof PAUSE_POINTS)[number];

/** The coordinator with the project's actions, their messages written to its streams. */
async function coordinatorFor(config: Config, option: string | true, extra: Partial<CoordinatorOptions> = {}): Promise<Coordinator> {
  const project = await loadProject(option);
  return Coordinator.start(config, {
    log: createLogger(config, 'coordinator'),
    actions: project.twoPhaseCommit?.actions ?? {},
    outbox: { schemas: project.schemas, topics: streamTopics(project.streams) },
    recoverOnStart: false,
    ...extra,
  });
}
import { printJson, progress, table } from './output.ts';

function printTransaction(tx: TransactionRecord): void {
  process.stdout.write(`transaction ${tx.txId} (${tx.operation}): ${tx.state}${tx.decision ? `, decision ${tx.decision}` : ''}${tx.reason ? ` — ${tx.reason}` : ''}\n`);
  process.stdout.write(`${table(tx.participants.map((p) => ({ participant: p.name, database: p.database, state: p.state, vote: p.vote ?? '', error: p.error ?? '' })))}\n`);
}

function statusCommand(): Command {
  return new Command('status')
    .description("a transaction's state, decision and participants, from the coordinator's log")
    .argument('<txId>')
    .option(...CONFIG_OPTION)
    .option('--json', 'print as JSON')
    .action(async (txId: string, opts: { json?: boolean; config?: string | true }) => {
      const config = loadConfig();
      const coordinator = await coordinatorFor(config, opts.config ?? true);
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
    .option(...CONFIG_OPTION)
    .option('--json', 'print the recovery report as JSON')
    .action(async (opts: { tx?: string; json?: boolean; config?: string | true }) => {
      const config = loadConfig();
      const coordinator = await coordinatorFor(config, opts.config ?? true);
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

function parseParticipants(json: string): ParticipantSpec[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`--participants is not JSON: ${(err as Error).message}`);
  }
  const ok = (p: unknown): p is ParticipantSpec => {
    const x = p as Record<string, unknown>;
    return typeof p === 'object' && p !== null && typeof x.name === 'string' && typeof x.database === 'string' && typeof x.action === 'string' && typeof x.params === 'object' && x.params !== null;
  };
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(ok)) throw new ConfigError('--participants must be a non-empty JSON list of {"name","database","action","params":{…}}');
  return parsed;
}

/** One transaction in this process; it can pause (and wait to be killed) at a chosen point, for crash tests. */
function runCommand(): Command {
  return new Command('run')
    .description('run one transaction of the project\'s actions in this process, to its end')
    .requiredOption('--tx <txId>', 'transaction id')
    .requiredOption('--operation <name>', 'what the transaction does, for the log (e.g. update_model)')
    .requiredOption('--participants <json>', 'the participants: [{"name","database","action","params":{…}}, …]')
    .option(...CONFIG_OPTION)
    .addOption(new Option('--pause-at <point>', `print "${PAUSED_MARKER} <point> <txId>" there and wait`).choices(PAUSE_POINTS))
    .option('--json', 'print the transaction as JSON')
    .action(async (opts: { tx: string; operation: string; participants: string; config?: string | true; pauseAt?: PausePoint; json?: boolean }) => {
      const participants = parseParticipants(opts.participants);
      const config = loadConfig();
      const pause = async (point: PausePoint, txId: string) => {
        if (opts.pauseAt !== point) return;
        process.stdout.write(`${PAUSED_MARKER} ${point} ${txId}\n`);
        await new Promise<never>(() => setInterval(() => undefined, 60_000));
      };
      const coordinator = await coordinatorFor(config, opts.config ?? true, {
        recoverOnStart: true,
        hooks: { beforeDecision: (txId) => pause('before-decision', txId), afterDecision: (txId) => pause('after-decision', txId) },
      });
      try {
        await coordinator.create(opts.tx, opts.operation, participants);
        const tx = await coordinator.run(opts.tx);
        if (opts.json) printJson(tx);
        else printTransaction(tx);
        if (!TERMINAL_TRANSACTION_STATES.includes(tx.state)) process.exitCode = 1;
      } finally {
        await coordinator.close();
      }
    });
}

export function twoPhaseCommitCommand(): Command {
  return new Command('2pc')
    .description("two-phase commit coordinator over Postgres prepared transactions, with the project's actions")
    .addCommand(runCommand())
    .addCommand(statusCommand())
    .addCommand(recoverCommand());
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
