/**
 * `npm run example:2pc -- --scenario <name> [--json]`: runs update_model for real against the
 * stack's databases and reports how it ended. The crash scenarios run the coordinator as its own
 * process (`sagaline 2pc run --pause-at …`), kill it with SIGKILL at the chosen point and start a
 * new one (`sagaline 2pc recover`) whose recovery finishes the job.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  Coordinator,
  createLogger,
  databaseUrlFor,
  ENGINE_DATABASE,
  GID_PREFIX,
  loadConfig,
  readTransaction,
  SagalineError,
  streamTopics,
  waitFor,
  type Config,
  type TransactionRecord,
} from '../../index.ts';
import { TcpProxy } from '../../dev.ts';
import { addModel, MODEL_DATABASE } from './models.ts';
import { MODEL_VERSIONS_STREAM, UPDATE_MODEL, UPDATE_MODEL_ACTIONS, updateModelParticipants, type UpdateModelParams } from './update-model.ts';

const CONFIG_FILE = fileURLToPath(new URL('./sagaline.config.ts', import.meta.url));
const SCHEMAS = fileURLToPath(new URL('./schemas', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/sagaline.js', import.meta.url));
const quiet = createLogger({ logLevel: 'warn' }, 'coordinator');

export const SCENARIOS = ['ok', 'vote-no', 'timeout', 'crash-before-decision', 'crash-after-decision', 'participant-down'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** How each scenario must end. */
export const EXPECTED_OUTCOME: Record<Scenario, 'committed' | 'aborted'> = {
  ok: 'committed',
  'vote-no': 'aborted',
  timeout: 'aborted',
  'crash-before-decision': 'aborted',
  'crash-after-decision': 'committed',
  'participant-down': 'committed',
};

export const PAUSE_POINTS = ['before-decision', 'after-decision'] as const;
export type PausePoint = (typeof PAUSE_POINTS)[number];
/** The line a paused coordinator prints: `<marker> <point> <txId>`. */
export const PAUSED_MARKER = '2PC-PAUSED';

export interface DemoResult {
  scenario: Scenario;
  txId: string;
  outcome: 'committed' | 'aborted' | 'unfinished';
  participants: { name: string; state: string; vote: string | null; error: string | null }[];
  /** Prepared transactions of this transaction still in the databases (0 when it is finished). */
  preparedLeft: number;
  reason: string | null;
  tenantId: string;
  modelId: string;
  version: string;
}

export function outcomeOf(tx: TransactionRecord): DemoResult['outcome'] {
  return tx.state === 'Committed' ? 'committed' : tx.state === 'Aborted' ? 'aborted' : 'unfinished';
}

const pool = (config: Config, database: string) => new pg.Pool({ connectionString: databaseUrlFor(config, database), max: 2 });

async function preparedLeft(pool: pg.Pool, txId: string): Promise<number> {
  const { rows } = await pool.query('select count(*)::int as n from pg_prepared_xacts where gid like $1', [`${GID_PREFIX}${txId}:%`]);
  return rows[0].n as number;
}

/** Runs the CLI as a child process; `onLine` sees its stdout lines. */
function cli(args: string[], onLine: (line: string) => void = () => undefined) {
  const child = spawn(process.execPath, [CLI, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, exited, stderr: () => stderr };
}

async function crashAndRecover(config: Config, pool: pg.Pool, txId: string, params: UpdateModelParams, point: PausePoint, say: (line: string) => void): Promise<void> {
  let paused = false;
  let exitCode: number | undefined;
  const participants = JSON.stringify(updateModelParticipants(params));
  const run = cli(['2pc', 'run', '--config', CONFIG_FILE, '--tx', txId, '--operation', UPDATE_MODEL, '--participants', participants, '--pause-at', point], (line) => {
    if (line.startsWith(`${PAUSED_MARKER} ${point} ${txId}`)) paused = true;
  });
  void run.exited.then((code) => (exitCode = code));
  say(`coordinator process ${run.child.pid} started`);
  await waitFor(`the coordinator to pause ${point}`, () => paused, {
    timeoutMs: config.twoPhaseCommit.prepareTimeoutMs + 60_000,
    intervalMs: 50,
    abortIf: () => {
      if (exitCode !== undefined) throw new SagalineError('DEMO_FAILED', `the coordinator process exited with ${exitCode} before pausing: ${run.stderr()}`);
    },
  });
  say(`coordinator paused ${point}; ${await preparedLeft(pool, txId)} prepared transaction(s) in doubt`);
  run.child.kill('SIGKILL');
  await run.exited;
  say(`coordinator process ${run.child.pid} killed with SIGKILL`);
  const recover = cli(['2pc', 'recover', '--config', CONFIG_FILE, '--tx', txId]);
  say(`new coordinator process ${recover.child.pid} started; recovering`);
  const code = await recover.exited;
  if (code !== 0) throw new SagalineError('DEMO_FAILED', `recovery exited with ${code}: ${recover.stderr()}`);
}

export async function runDemo(config: Config, scenario: Scenario, say: (line: string) => void = () => undefined): Promise<DemoResult> {
  const sagaline = pool(config, ENGINE_DATABASE);
  const models = pool(config, MODEL_DATABASE);
  const txId = `tx-${randomUUID()}`;
  const params: UpdateModelParams = { tenantId: 'demo-2pc', modelId: `model-${randomUUID().slice(0, 8)}`, version: 'v2' };
  try {
    await addModel(models, { ...params, version: 'v1' });
    say(`model ${params.modelId} at v1; update_model to ${params.version} as transaction ${txId}`);
    if (scenario === 'vote-no') {
      await models.query('update models set reserved_by = $2 where model_id = $1', [params.modelId, `saga-${randomUUID()}`]);
      say(`model ${params.modelId} reserved for training: model-service will vote no`);
    }

    if (scenario === 'crash-before-decision' || scenario === 'crash-after-decision') {
      await crashAndRecover(config, sagaline, txId, params, scenario === 'crash-before-decision' ? 'before-decision' : 'after-decision', say);
    } else {
      const proxy = scenario === 'participant-down' ? new TcpProxy(new URL(config.databaseUrl).hostname, Number(new URL(config.databaseUrl).port || 5432)) : undefined;
      let blocker: pg.Client | undefined;
      await proxy?.open();
      let reopened: Promise<void> | undefined;
      const coordinator = await Coordinator.start(config, {
        log: quiet,
        actions: UPDATE_MODEL_ACTIONS,
        outbox: { schemas: SCHEMAS, topics: streamTopics({ [MODEL_VERSIONS_STREAM]: ['ModelVersionChanged', 'ModelVersionAudited'] }) },
        ...(proxy
          ? {
              participantUrl: (database: string) => {
                const url = new URL(config.databaseUrl);
                url.pathname = `/${database}`;
                if (database === MODEL_DATABASE) {
                  url.hostname = '127.0.0.1';
                  url.port = String(proxy.port);
                }
                return url.toString();
              },
              hooks: {
                afterDecision: async (_tx: string, decision: string) => {
                  if (decision !== 'commit') return;
                  await proxy.close();
                  const downMs = Math.max(2_000, 4 * config.twoPhaseCommit.retryIntervalMs);
                  say(`decision commit logged; model-service made unreachable for ${downMs} ms`);
                  reopened = new Promise((resolve) => setTimeout(resolve, downMs)).then(() => proxy.open()).then(() => say('model-service reachable again'));
                },
              },
            }
          : {}),
      });
      try {
        if (scenario === 'timeout') {
          blocker = new pg.Client({ connectionString: databaseUrlFor(config, MODEL_DATABASE) });
          await blocker.connect();
          await blocker.query('begin');
          await blocker.query('select 1 from models where model_id = $1 for update', [params.modelId]);
          say(`another session holds model ${params.modelId}'s row lock: model-service cannot vote within ${config.twoPhaseCommit.prepareTimeoutMs} ms`);
        }
        await coordinator.create(txId, UPDATE_MODEL, updateModelParticipants(params));
        await coordinator.run(txId);
        await reopened;
      } finally {
        if (blocker) {
          await blocker.query('rollback').catch(() => undefined);
          await blocker.end().catch(() => undefined);
        }
        await coordinator.close();
        await proxy?.close();
      }
    }

    const tx = await readTransaction(sagaline, txId);
    if (!tx) throw new SagalineError('DEMO_FAILED', `transaction ${txId} is not in the log`);
    return {
      scenario,
      txId,
      outcome: outcomeOf(tx),
      participants: tx.participants.map((p) => ({ name: p.name, state: p.state, vote: p.vote, error: p.error })),
      preparedLeft: await preparedLeft(sagaline, txId),
      reason: tx.reason,
      ...params,
    };
  } finally {
    await sagaline.end();
    await models.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'ok' }, json: { type: 'boolean', default: false } } });
  const scenario = values.scenario as Scenario;
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new SagalineError('REQUEST_INVALID', `--scenario must be one of ${SCENARIOS.join(', ')}, got "${values.scenario}"`);
  const say = values.json ? () => undefined : (line: string) => process.stderr.write(`› ${line}\n`);
  const result = await runDemo(loadConfig(), scenario, say);
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(`scenario ${result.scenario}: ${result.outcome}${result.reason ? ` (${result.reason})` : ''}`);
    for (const p of result.participants) console.log(`  ${p.name}: ${p.state}${p.vote ? `, voted ${p.vote}` : ''}${p.error ? ` — ${p.error}` : ''}`);
    console.log(`prepared transactions left: ${result.preparedLeft}`);
  }
  if (result.outcome !== EXPECTED_OUTCOME[result.scenario] || result.preparedLeft !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
