/**
 * Smoke run of `npm run bench` (the full run is its own command): every scenario runs end to end
 * on the real stack with tiny loads and writes its results, table and chart. It checks that the
 * harness measures what it says — every message timed, every saga terminal, every ratio computed
 * — never how fast anything was.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import type { BenchResults } from '../bench/report.ts';

function runBench(args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(PROJECT_ROOT, 'bench', 'run.ts'), ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench did not finish within ${timeoutMs} ms:\n${output.slice(-3000)}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    });
  });
}

describe('bench smoke run', () => {
  const out = mkdtempSync(join(tmpdir(), 'sagaline-bench-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every scenario on the real stack and writes the results, the table and the chart', async () => {
    // Given the running stack, when the bench runs with tiny loads
    const { code, output } = await runBench(['--quick', '--out', out], 600_000);
    expect(code, output.slice(-3000)).toBe(0);

    // Then it wrote the JSON results, the markdown table and the SVG chart, named by date
    const date = new Date().toISOString().slice(0, 10);
    const results = JSON.parse(readFileSync(join(out, `${date}.json`), 'utf8')) as BenchResults;
    expect(readFileSync(join(out, `${date}.md`), 'utf8')).toContain('| ceiling: plain inserts of outbox rows |');
    expect(readFileSync(join(out, `${date}.svg`), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/);
    expect(existsSync(join(out, `${date}.json`))).toBe(true);

    // And every path was measured: each message committed was timed on arrival, exactly once
    expect(results.ceiling.throughputPerSec).toBeGreaterThan(0);
    expect(results.delivery.map((d) => d.label)).toEqual(['debezium', 'debezium, poll.interval.ms=50', 'debezium, stock poll.interval.ms=500', 'debezium, stock max.batch.size=2048', 'polling relay', 'polling relay, idle poll 20 ms']);
    for (const d of results.delivery) {
      for (const run of [...d.rates, d.saturation]) {
        expect(run.messages, `${d.label} messages`).toBeGreaterThan(0);
        expect(run.latency.n, `${d.label}: every committed message timed`).toBe(run.messages);
        expect(run.duplicates, `${d.label} duplicates`).toBe(0);
        expect(run.deliveredPerSec).toBeGreaterThan(0);
      }
    }

    // And every saga requested ended, most of them completed
    const sagas = results.sagas!;
    expect(sagas.warmup, 'the warm-up is measured and kept apart').not.toBeNull();
    for (const run of [sagas.warmup!, ...sagas.rates, sagas.saturation]) {
      const terminal = (run.byState.Completed ?? 0) + (run.byState.Compensated ?? 0);
      expect(terminal, JSON.stringify(run.byState)).toBe(run.sagas);
      expect(run.byState.Completed ?? 0).toBeGreaterThan(0);
    }
    expect(sagas.messagesPerSaga).toBeGreaterThanOrEqual(6);

    // And replay read the same messages four ways: the log reader's records are the bare consume's, and the rebuild folded every message the decoder read
    const [bare, records, decode, rebuild] = results.replay!.runs;
    expect(results.replay!.runs.map((r) => r.label)).toEqual(['bare kafkajs consume', 'log reader, records only', 'decode through the registry', 'rebuild saga state']);
    expect(decode!.events).toBeGreaterThan(0);
    expect(records!.events).toBe(bare!.events);
    expect(bare!.events).toBeGreaterThanOrEqual(decode!.events);
    expect(rebuild!.events).toBe(decode!.events);
    // each reader measured in every counted round (after a warm-up round), its figure the median
    for (const run of results.replay!.runs) {
      expect(run.samples, run.label).toHaveLength(results.replay!.rounds);
      expect(run.samples, run.label).toContain(run.eventsPerSec);
    }

    // And every throughput has its ratio to a baseline from the same run
    expect(results.ratios.length).toBeGreaterThanOrEqual(6);
    for (const r of results.ratios) expect(r.ratio, r.what).toBeGreaterThan(0);
  }, 900_000);
});
