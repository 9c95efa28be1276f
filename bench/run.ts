/**
 * `npm run bench`: every scenario measured in one run on the real stack, side by side, so each
 * throughput can be given as a ratio to a ceiling or baseline taken minutes apart on the same
 * machine. Writes bench/results/<date>.json, .md and .svg (<date>-2… for a later run the same day). `--quick` is the smoke run `npm test`
 * makes (tiny loads: it checks the harness, its numbers mean nothing); `--only debezium,replay`
 * runs some scenarios (the ceiling always runs).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, type, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pgPool } from '../core/clients.ts';
import { PROJECT_ROOT, VERSIONS } from '../core/config.ts';
import { provisionSagas } from '../infra/provision-sagas.ts';
import { Stack } from '../infra/stack/stack.ts';
import { processorsStatus, processorsUp } from '../processors/supervisor.ts';
import { config } from '../test/support/fixtures.ts';
import { startProcessors, stopProcessors, testProject } from '../test/support/saga.ts';
import { now } from './load.ts';
import { chart, computeRatios, headline, markdown, type BenchResults } from './report.ts';
import { ensureBenchTopic, measureCeiling, measureDelivery, type DeliverySettings, type DeliveryTuning } from './scenarios/delivery.ts';
import { measureReplay } from './scenarios/replay.ts';
import { measureSagas, measureScaleOut, type SagaSettings } from './scenarios/sagas.ts';

const SCENARIOS = ['debezium', 'polling', 'sagas', 'replay'] as const;

const FULL = {
  delivery: { txSize: 10, writers: 4, payloadBytes: 400, saturationMessages: 50_000, rates: [500, 2_000, 5_000], rateSeconds: 10, drainTimeoutMs: 300_000 } satisfies DeliverySettings,
  sagas: { saturationSagas: 2_000, rates: [5, 20], rateSeconds: 20, warmupSeconds: 20, requesters: 16, drainTimeoutMs: 600_000 } satisfies SagaSettings,
  /** Saturation measured again with this many processes per service and for the monitor. */
  scaleOutInstances: [2] as number[],
  replayLastPerPartition: null as number | null,
  /** Counted rounds of the replay readers, after a warm-up round. */
  replayRounds: 5,
};
const QUICK: typeof FULL = {
  delivery: { txSize: 10, writers: 2, payloadBytes: 400, saturationMessages: 400, rates: [200], rateSeconds: 1, drainTimeoutMs: 120_000 },
  sagas: { saturationSagas: 4, rates: [2], rateSeconds: 1, warmupSeconds: 1, requesters: 2, drainTimeoutMs: 180_000 },
  scaleOutInstances: [2],
  replayLastPerPartition: 50,
  replayRounds: 1,
};

/**
 * Settings compared in every run, the ones that moved commit-to-consumer latency
 * (docs/performance.md): Debezium's poll interval — the checked-in definition (10 ms) against 50 ms
 * and the stock 500 ms —, its batch size (the checked-in 1 against the stock 2,048), and the
 * polling relay's idle pause (the default against a shorter one).
 */
const VARIANTS: { mode: 'debezium' | 'polling'; label: string; tuning: DeliveryTuning }[] = [
  { mode: 'debezium', label: 'debezium', tuning: {} },
  { mode: 'debezium', label: 'debezium, poll.interval.ms=50', tuning: { connector: { 'poll.interval.ms': '50' } } },
  { mode: 'debezium', label: 'debezium, stock poll.interval.ms=500', tuning: { connector: { 'poll.interval.ms': '500' } } },
  { mode: 'debezium', label: 'debezium, stock max.batch.size=2048', tuning: { connector: { 'max.batch.size': '2048' } } },
  { mode: 'polling', label: 'polling relay', tuning: {} },
  { mode: 'polling', label: 'polling relay, idle poll 20 ms', tuning: { relayIdlePollMs: 20 } },
];

/**
 * Saga deadlines far above any queueing delay at saturation (a timed-out step would measure the
 * deadline, not the pipeline), and the training service looking for finished jobs every 25 ms
 * (the simulated training takes 10 ms; the tests' 100 ms poll would dominate the latency).
 */
const SAGA_ENV = { ...Object.fromEntries(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((s) => [`TRAINING_DEADLINE_${s}_MS`, '300000'])), TRAINING_JOB_POLL_MS: '25' };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } } });
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((s) => !(SCENARIOS as readonly string[]).includes(s)) ?? [];
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (choose from ${SCENARIOS.join(', ')})`);
  const wanted = (s: (typeof SCENARIOS)[number]) => !only || only.includes(s);
  const settings = values.quick ? QUICK : FULL;
  const outDir = values.out ?? join(PROJECT_ROOT, 'bench', 'results');
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
  const t0 = now();

  await new Stack(config).up(log);
  const project = await testProject();
  await provisionSagas(config, project, log);
  await ensureBenchTopic();
  // Each idle Debezium connector costs CPU on two cores (docs/performance.md): the run says how many it shared Connect with.
  const connectors = ((await (await fetch(`${config.connectUrl}/connectors`)).json()) as string[]).sort();
  log(`connect: ${connectors.length} connector(s) on the worker at the start: ${connectors.join(', ')}`);
  const pool = pgPool(config, 'sagaline', 1);
  const postgres = (await pool.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  await pool.end();

  // The ceiling always runs: every write-path ratio needs it.
  log('ceiling: plain inserts…');
  const ceiling = await measureCeiling(settings.delivery);
  log(`ceiling: ${ceiling.throughputPerSec} rows/s`);
  const delivery = [];
  for (const v of VARIANTS.filter((x) => wanted(x.mode))) delivery.push(await measureDelivery(v.mode, v.label, settings.delivery, v.tuning, log));

  let sagas = null;
  if (wanted('sagas')) {
    const wereRunning = processorsStatus(config, project).some((p) => p.running);
    await startProcessors(SAGA_ENV);
    try {
      sagas = await measureSagas(settings.sagas, log);
      for (const instances of settings.scaleOutInstances) {
        await stopProcessors();
        await startProcessors(SAGA_ENV, undefined, instances);
        sagas.scaleOut.push(await measureScaleOut(settings.sagas, instances, log));
      }
    } finally {
      await stopProcessors();
      if (wereRunning) processorsUp(config, project); // as they were, with their usual settings
    }
  }
  const replay = wanted('replay') ? await measureReplay(settings.replayLastPerPartition, 1_800_000, log, settings.replayRounds) : null;

  const date = new Date().toISOString().slice(0, 10);
  const cpu = cpus();
  const partial: Omit<BenchResults, 'ratios'> = {
    date,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      os: `${type()} ${release()}`,
      node: process.versions.node,
      postgres,
      kafka: VERSIONS.kafka,
      debezium: VERSIONS.debezium,
      connectorsAtStart: connectors,
    },
    settings: { ...settings.delivery, sagas: settings.sagas, replayLastPerPartition: settings.replayLastPerPartition, replayRounds: settings.replayRounds, quick: values.quick, variants: VARIANTS },
    ceiling,
    delivery,
    sagas,
    replay,
    elapsedMs: Math.round(now() - t0),
  };
  const results: BenchResults = { ...partial, ratios: computeRatios(partial) };
  mkdirSync(outDir, { recursive: true });
  const name = runName(outDir, date);
  results.run = name;
  const previous = previousRun(outDir, name);
  if (previous) results.previous = previous;
  const base = join(outDir, name);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(`${base}.md`, markdown(results));
  writeFileSync(`${base}.svg`, chart(results));
  process.stdout.write('\n' + markdown(results) + `\nwritten: ${base}.json, ${base}.md, ${base}.svg\n`);
}

/** A run's file name: its date, then `<date>-2`, `-3`… for later runs the same day (so none overwrites another). */
const RUN_FILE = /^(\d{4}-\d{2}-\d{2})(?:-(\d+))?\.json$/;
const runOrder = (f: string): [string, number] => {
  const m = RUN_FILE.exec(f) as RegExpExecArray;
  return [m[1] as string, Number(m[2] ?? 1)];
};
const before = (a: [string, number], b: [string, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function runName(dir: string, date: string): string {
  let n = 1;
  while (existsSync(join(dir, `${n === 1 ? date : `${date}-${n}`}.json`))) n++;
  return n === 1 ? date : `${date}-${n}`;
}

/** The newest full run recorded before the run `name` (bench/results/<date>[-n].json), as headline figures. */
function previousRun(dir: string, name: string): BenchResults['previous'] | undefined {
  const self = runOrder(`${name}.json`);
  const files = readdirSync(dir)
    .filter((f) => RUN_FILE.test(f) && before(runOrder(f), self))
    .sort((a, b) => (before(runOrder(a), runOrder(b)) ? -1 : 1));
  const last = files.at(-1);
  if (!last) return undefined;
  const old = JSON.parse(readFileSync(join(dir, last), 'utf8')) as BenchResults;
  return { date: old.date, run: last.replace(/\.json$/, ''), figures: headline(old) };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
