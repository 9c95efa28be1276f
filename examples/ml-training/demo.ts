/**
 * `npm start`: the training example end to end, as a user drives it — the stack up, the example
 * provisioned from its definition, its services, saga monitor and HTTP API started in the
 * background (each a `sagaline` command), then a batch of training sagas (some failing, some
 * timing out) with live progress and a summary.
 *
 *   npm start [-- --sagas N] [-- --json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { databaseUrlFor, loadConfig, newId, sagaClient, SagalineError, type InstanceState, type SagaClient, type SagaDefinition } from '../../index.ts';
import { demoPlan, describeScenario, expectedStatus, summarizeRun, type DemoSummary, type Scenario } from './demo-plan.ts';
import { addModel, MODEL_DATABASE } from './models.ts';
import { requestTraining, type TrainingRequestInput } from './request.ts';
import { trainingSaga } from './saga.ts';
import { trainingSettings } from './settings.ts';

const CONFIG_FILE = fileURLToPath(new URL('./sagaline.config.ts', import.meta.url));
const SCHEMAS = fileURLToPath(new URL('./schemas', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/sagaline.js', import.meta.url));

export interface DemoResult extends DemoSummary {
  tenantId: string;
  api: string;
  /** An operator token for the API and the UI, made by this run (null when the API runs without tokens). */
  token: string | null;
  results: { sagaId: string; modelId: string; scenario: string; status: string; expected: string; reason: string | null }[];
}

const say = (line: string) => process.stderr.write(`› ${line}\n`);

/** One `sagaline` command, its output passed through to stderr; fails with its exit code. */
function sagaline(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new SagalineError('DEMO_STEP_FAILED', `\`sagaline ${args.join(' ')}\` exited with ${code}`))));
  });
}

/** Demo sagas ask for no GPU and little memory, so the compute pool fits the whole batch at once. */
function request(scenario: Scenario, i: number): Omit<TrainingRequestInput, 'tenantId' | 'modelId'> {
  return {
    config: { algorithm: i % 2 ? 'xgboost' : 'random-forest', hyperparameters: { max_depth: String(4 + (i % 4)) }, datasetUri: `s3://demo/datasets/churn-${i % 3}.parquet`, validationSplit: 0.2 },
    resources: { cpuCores: 2, memoryGb: 8, gpuCount: 0, storageGb: 10 },
    trainingDurationMs: 400 + ((i * 137) % 900),
    ...(scenario.kind === 'fail' ? { failAt: scenario.step } : {}),
    ...(scenario.kind === 'hang' ? { hangAt: scenario.step } : {}),
    ...(scenario.kind === 'transient' ? { transientFailures: { [scenario.step]: scenario.failures } } : {}),
  };
}

function progressLine(elapsedMs: number, total: number, finals: (InstanceState | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const s of finals) counts.set(s?.status ?? 'Requested', (counts.get(s?.status ?? 'Requested') ?? 0) + 1);
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status} ${n}`);
  return `[${(elapsedMs / 1000).toFixed(0).padStart(3)} s] ${total} sagas: ${parts.join(' · ')}`;
}

async function runBatch(client: SagaClient, saga: SagaDefinition, sagas: number, api: string): Promise<Omit<DemoResult, 'token'>> {
  const config = loadConfig();
  const settings = trainingSettings();
  const tenantId = 'demo';
  const runId = newId().slice(0, 8);
  const plan = demoPlan(sagas);
  const models = new pg.Pool({ connectionString: databaseUrlFor(config, MODEL_DATABASE), max: 2 });
  const runs: { sagaId: string; modelId: string; scenario: Scenario }[] = [];
  try {
    for (const [i, scenario] of plan.entries()) {
      const modelId = `demo-${runId}-${String(i + 1).padStart(2, '0')}`;
      await addModel(models, { tenantId, modelId, version: 'v1' });
      runs.push({ sagaId: await requestTraining(client, saga, models, { tenantId, modelId, ...request(scenario, i) }), modelId, scenario });
    }
  } finally {
    await models.end();
  }
  say(`started ${runs.length} training sagas (tenant ${tenantId}, models demo-${runId}-NN): ${plan.filter((s) => s.kind === 'ok').length} to run through, the others ${[...new Set(plan.filter((s) => s.kind !== 'ok').map(describeScenario))].join(', ')}`);

  const t0 = Date.now();
  const hangs = plan.filter((s): s is Extract<Scenario, { kind: 'hang' }> => s.kind === 'hang').map((s) => settings.deadlinesMs[s.step]);
  const deadline = t0 + 180_000 + Math.max(0, ...hangs);
  const terminal = ['Completed', 'Compensated', 'Failed', 'Parked'];
  const tty = process.stderr.isTTY;
  let last = '';
  for (;;) {
    const states = await Promise.all(runs.map(async (r) => (await client.get(r.sagaId))?.state));
    const done = states.every((s) => s !== undefined && terminal.includes(s.status));
    const line = progressLine(Date.now() - t0, runs.length, states);
    if (line.replace(/^\[[^\]]*\]/, '') !== last.replace(/^\[[^\]]*\]/, '') || done) process.stderr.write(tty ? `\r${line.padEnd(100)}${done ? '\n' : ''}` : `› ${line}\n`);
    last = line;
    if (done) {
      const finals = states as InstanceState[];
      return {
        ...summarizeRun(finals),
        tenantId,
        api,
        results: runs.map((r, i) => ({ sagaId: r.sagaId, modelId: r.modelId, scenario: describeScenario(r.scenario), status: finals[i]!.status, expected: expectedStatus(r.scenario), reason: finals[i]!.reason ?? null })),
      };
    }
    if (Date.now() > deadline) throw new SagalineError('DEMO_TIMEOUT', `the demo sagas did not all end within ${Math.round((deadline - t0) / 1000)} s: ${line}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function printSummary(result: DemoResult): void {
  const rows = (items: Record<string, unknown>[]) => {
    const keys = Object.keys(items[0] ?? {});
    const width = keys.map((k) => Math.max(k.length, ...items.map((i) => String(i[k]).length)));
    const line = (cells: string[]) => cells.map((c, j) => c.padEnd(width[j]!)).join('  ').trimEnd();
    console.log([line(keys), ...items.map((i) => line(keys.map((k) => String(i[k]))))].join('\n'));
  };
  const fmt = (v: number | null) => (v === null ? '–' : `${v} ms`);
  console.log(`\n${result.sagas} sagas by final status:`);
  rows(Object.entries(result.byStatus).map(([status, n]) => ({ status, sagas: n })));
  console.log('\nlatency of each step whose success stood (start → success), and of a whole completed saga:');
  rows(result.steps.map((s) => ({ step: s.step, n: s.n, p50: fmt(s.p50Ms), p95: fmt(s.p95Ms) })));
  console.log('\nsagas:');
  rows(result.results.map((r) => ({ saga: r.sagaId, model: r.modelId, scenario: r.scenario, status: r.status, reason: r.reason ?? '' })));
  const unexpected = result.results.filter((r) => r.status !== r.expected);
  if (unexpected.length) console.log(`\n${unexpected.length} saga(s) did not end as their scenario expects: ${unexpected.map((r) => `${r.sagaId} (${r.status}, expected ${r.expected})`).join(', ')}`);
  const example = result.results.find((r) => r.status === 'Compensated') ?? result.results[0];
  const cfg = '--config examples/ml-training/sagaline.config.ts';
  if (example) {
    console.log(`\ninspect a saga from the event log:  npx sagaline audit ${example.sagaId} ${cfg}`);
    console.log(`its state from the projection:      npx sagaline status ${example.sagaId} ${cfg}`);
    const auth = result.token ? ` -H "Authorization: Bearer ${result.token}"` : '';
    console.log(`the same over HTTP:                 curl${auth} ${result.api}/sagas/${example.sagaId}`);
  }
  if (result.token) console.log(`the web UI:                         ${result.api}/ui  (paste the demo's operator token above when it asks; \`npx sagaline tokens\` makes and revokes tokens)`);
  else console.log(`the web UI:                         ${result.api}/ui`);
  console.log(`rebuild and compare all state:      npx sagaline replay --rebuild ${cfg}`);
  console.log(`everything keeps running; stop it:  npx sagaline processors down ${cfg} && npx sagaline stack down`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sagas: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } } });
  const sagas = Number(values.sagas);
  if (!Number.isInteger(sagas) || sagas < 1 || sagas > 1_000) throw new SagalineError('REQUEST_INVALID', `--sagas must be an integer from 1 to 1000, got "${values.sagas}"`);
  await sagaline(['stack', 'up']);
  await sagaline(['provision', '--config', CONFIG_FILE]);
  await sagaline(['processors', 'up', '--config', CONFIG_FILE, '--api']);
  const config = loadConfig();
  const api = `http://${config.api.host}:${config.api.port}`;
  const saga = trainingSaga(trainingSettings().deadlinesMs);
  // A token to call the API and open the UI with, made as a user would (shown once, stored hashed).
  const token = config.api.auth === 'tokens' ? (JSON.parse(await sagaline(['tokens', 'create', '--operator', '--label', 'npm start demo', '--json'])) as { token: string }).token : null;
  const client = await sagaClient([saga], { config, schemas: SCHEMAS });
  try {
    const result = { ...(await runBatch(client, saga, sagas, api)), token };
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else printSummary(result);
    if (result.results.some((r) => r.status !== r.expected)) process.exitCode = 1;
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
