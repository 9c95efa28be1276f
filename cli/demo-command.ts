/**
 * `sagaline demo` — what `npm start` runs: the stack up (if it is not), provisioned, the processors
 * and the HTTP API started in the background, then a batch of training sagas — some made to fail
 * at different steps or to time out — with live progress and a summary at the end. Everything keeps
 * running afterwards, to be inspected with `status`, `audit`, `replay` or the HTTP API.
 */
import { Command } from 'commander';
import { pgPool } from '../core/clients.ts';
import { loadConfig, type Config } from '../core/config.ts';
import { SagalineError, StackError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { waitFor } from '../core/wait.ts';
import { demoPlan, describeScenario, expectedState, summarizeRun, type DemoSummary, type Scenario } from '../demo/plan.ts';
import { provision } from '../infra/provision.ts';
import { Stack } from '../infra/stack/stack.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { addModel, DATABASE as MODEL_DATABASE } from '../processors/model-service/service.ts';
import { probeProcessors } from '../api/metrics.ts';
import { waitForProcessorGroups } from '../processors/ready.ts';
import { getSaga, type SagaSummary } from '../processors/saga-state/queries.ts';
import { DATABASE as SAGA_STATE_DATABASE } from '../processors/saga-state/service.ts';
import { TERMINAL, type SagaStatus } from '../processors/saga/state.ts';
import type { ProcessorName } from '../processors/index.ts';
import { apiDown, apiStatus, apiUp, processorsDown, processorsStatus, processorsUp } from '../processors/supervisor.ts';
import { tail } from '../infra/stack/processes.ts';
import { requestTraining } from '../processors/training-requests/request.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { printJson, progress, table } from './output.ts';

export interface DemoResult extends DemoSummary {
  tenantId: string;
  api: string;
  results: { sagaId: string; modelId: string; scenario: string; state: SagaStatus; expected: SagaStatus; reason: string | null }[];
}

/** Demo sagas ask for no GPU and little memory, so the shared compute pool fits the whole batch at once. */
const DEMO_RESOURCES = { cpuCores: 2, memoryGb: 8, gpuCount: 0, storageGb: 10 };

function request(scenario: Scenario, i: number) {
  return {
    config: { algorithm: i % 2 ? 'xgboost' : 'random-forest', hyperparameters: { max_depth: String(4 + (i % 4)) }, datasetUri: `s3://demo/datasets/churn-${i % 3}.parquet`, validationSplit: 0.2, resources: DEMO_RESOURCES },
    trainingDurationMs: 400 + ((i * 137) % 900),
    ...(scenario.kind === 'fail' ? { failAt: scenario.step } : {}),
    ...(scenario.kind === 'hang' ? { hangAt: scenario.step } : {}),
    ...(scenario.kind === 'transient' ? { transientFailures: { [scenario.step]: scenario.failures } } : {}),
  };
}

function progressLine(elapsedMs: number, total: number, finals: (SagaSummary | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const s of finals) counts.set(s?.state ?? 'NotStarted', (counts.get(s?.state ?? 'NotStarted') ?? 0) + 1);
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${state} ${n}`);
  return `[${(elapsedMs / 1000).toFixed(0).padStart(3)} s] ${total} sagas: ${parts.join(' · ')}`;
}

export async function runDemo(config: Config, sagas: number, live: (line: string, final: boolean) => void): Promise<DemoResult> {
  const stack = new Stack(config);
  const up = await stack.up(progress);
  let started: ProcessorName[] = [];
  const apiWasRunning = apiStatus(config).running;
  try {
    const provisioned = await provision(config, progress);
    progress(provisioned.changed ? 'provisioned databases, topics, schemas and connectors' : 'databases, topics, schemas and connectors already provisioned');
    started = processorsUp(config);
    progress(started.length ? `started processors: ${started.join(', ')}` : 'processors already running');
    return await runBatch(config, sagas, live);
  } catch (err) {
    // A demo that fails leaves nothing behind that it started: processors, the API, stack components.
    const stopped = [
      ...(await processorsDown(config, started).catch(() => [])),
      ...(!apiWasRunning && (await apiDown(config).catch(() => false)) ? ['HTTP API'] : []),
      ...(await stack.down(() => undefined, up.started).catch(() => [])),
    ];
    if (stopped.length) progress(`stopped what this run had started: ${stopped.join(', ')} (logs are kept in ${config.stack.stateDir}/logs)`);
    throw err;
  }
}

async function runBatch(config: Config, sagas: number, live: (line: string, final: boolean) => void): Promise<DemoResult> {
  // A processor that exits (a port taken, a database unreachable) fails the demo at once, with its log.
  const failIfExited = () => {
    const dead = processorsStatus(config).find((p) => !p.running);
    if (dead) throw new StackError('COMPONENT_DIED', `processor ${dead.name} exited while starting; its log is ${dead.log}`, { logTail: tail(dead.log) });
  };
  // Each of ours answers on its own metrics endpoint (its groups may have other members already), then the groups are Stable.
  await waitFor('every processor to answer on its metrics endpoint', async () => (await probeProcessors(config)).every((p) => p.healthy), {
    timeoutMs: 120_000,
    intervalMs: 500,
    abortIf: failIfExited,
  });
  await waitForProcessorGroups(config, 120_000, undefined, failIfExited);
  const api = await apiUp(config);
  progress(`HTTP API on ${api}`);

  const tenantId = 'demo';
  const runId = newId().slice(0, 8);
  const plan = demoPlan(sagas);
  const modelPool = pgPool(config, MODEL_DATABASE, 2);
  const writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
  const runs: { sagaId: string; modelId: string; scenario: Scenario }[] = [];
  try {
    for (const [i, scenario] of plan.entries()) {
      const modelId = `demo-${runId}-${String(i + 1).padStart(2, '0')}`;
      await addModel(modelPool, { tenantId, modelId, version: 'v1' });
      const sagaId = await requestTraining(config, { tenantId, modelId, ...request(scenario, i) }, { writer });
      runs.push({ sagaId, modelId, scenario });
    }
  } finally {
    await modelPool.end();
  }
  progress(`started ${runs.length} training sagas (tenant ${tenantId}, models demo-${runId}-NN): ${plan.filter((s) => s.kind === 'ok').length} to run through, the others ${[...new Set(plan.filter((s) => s.kind !== 'ok').map(describeScenario))].join(', ')}`);

  const t0 = Date.now();
  const pool = pgPool(config, SAGA_STATE_DATABASE, 2);
  let lastLine = '';
  const hangs = plan.filter((s) => s.kind === 'hang').map((s) => config.saga.deadlinesMs[(s as { step: keyof Config['saga']['deadlinesMs'] }).step]);
  const timeoutMs = 180_000 + Math.max(0, ...hangs);
  try {
    const finals = await waitFor(
      `the ${runs.length} demo sagas to reach a final state`,
      async () => {
        const states = await Promise.all(runs.map((r) => getSaga(pool, r.sagaId).catch(() => undefined)));
        const line = progressLine(Date.now() - t0, runs.length, states);
        const done = states.every((s) => s !== undefined && TERMINAL.includes(s.state));
        if (line.replace(/^\[[^\]]*\]/, '') !== lastLine.replace(/^\[[^\]]*\]/, '') || done) live(line, done);
        lastLine = line;
        return done ? (states as SagaSummary[]) : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );
    const summary = summarizeRun(finals);
    return {
      ...summary,
      tenantId,
      api,
      results: runs.map((r, i) => {
        const f = finals[i] as SagaSummary;
        return { sagaId: r.sagaId, modelId: r.modelId, scenario: describeScenario(r.scenario), state: f.state, expected: expectedState(r.scenario), reason: f.reason };
      }),
    };
  } finally {
    await pool.end();
  }
}

function printSummary(result: DemoResult): void {
  const fmt = (v: number | null) => (v === null ? '–' : `${v} ms`);
  console.log(`\n${result.sagas} sagas by final state:`);
  console.log(table(Object.entries(result.byState).map(([state, n]) => ({ state, sagas: n }))));
  console.log('\nlatency of each step whose success stood (start → success), and of a whole completed saga:');
  console.log(table(result.steps.map((s) => ({ step: s.step, n: s.n, p50: fmt(s.p50Ms), p95: fmt(s.p95Ms) }))));
  console.log('\nsagas:');
  console.log(table(result.results.map((r) => ({ saga: r.sagaId, model: r.modelId, scenario: r.scenario, state: r.state, reason: r.reason ?? '' }))));
  const unexpected = result.results.filter((r) => r.state !== r.expected);
  if (unexpected.length) console.log(`\n${unexpected.length} saga(s) did not end as their scenario expects: ${unexpected.map((r) => `${r.sagaId} (${r.state}, expected ${r.expected})`).join(', ')}`);
  const example = result.results.find((r) => r.state === 'Compensated') ?? result.results[0];
  if (example) {
    console.log(`\ninspect a saga from the event log:  npx sagaline audit ${example.sagaId}`);
    console.log(`its state from the projection:      npx sagaline status ${example.sagaId}   (or ${result.api}/sagas/${example.sagaId})`);
  }
  console.log('rebuild and compare all state:      npx sagaline replay --rebuild');
  console.log('everything keeps running; stop it:  npx sagaline processors down && npx sagaline stack down');
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('the main job: stack up, provisioned, processors and HTTP API started, then a batch of training sagas (some failing, some timing out) with live progress and a summary')
    .option('--sagas <n>', 'how many sagas to run', '20')
    .option('--json', 'print the summary as JSON: {"sagas","byState","steps","results"}')
    .action(async (opts: { sagas: string; json?: boolean }) => {
      const sagas = Number(opts.sagas);
      if (!Number.isInteger(sagas) || sagas < 1 || sagas > 1_000) throw new SagalineError('REQUEST_INVALID', `--sagas must be an integer from 1 to 1000, got "${opts.sagas}"`);
      const tty = process.stderr.isTTY;
      const result = await runDemo(loadConfig(), sagas, (line, final) => {
        if (tty) process.stderr.write(`\r${line.padEnd(100)}${final ? '\n' : ''}`);
        else progress(line);
      });
      if (opts.json) return printJson(result);
      printSummary(result);
      const unexpected = result.results.filter((r) => r.state !== r.expected);
      if (unexpected.length) process.exitCode = 1;
    });
}
