/** The results of one bench run as JSON, a markdown table and an SVG chart. */
import type { CeilingResult, DeliveryResult, RateRun } from './scenarios/delivery.ts';
import type { ReplayResult } from './scenarios/replay.ts';
import type { SagaResult, SagaRun } from './scenarios/sagas.ts';
import { ratio } from './stats.ts';

export interface BenchResults {
  date: string;
  /** The run's file name: its date, or `<date>-2`… for a later run the same day. */
  run?: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; os: string; node: string; postgres: string; kafka: string; debezium: string; connectorsAtStart?: string[] };
  settings: Record<string, unknown>;
  ceiling: CeilingResult;
  delivery: DeliveryResult[];
  sagas: SagaResult | null;
  replay: ReplayResult | null;
  /** Each throughput as a ratio to its ceiling or baseline from this run. */
  ratios: { what: string; value: number; unit: string; baseline: string; baselineValue: number; ratio: number | null }[];
  elapsedMs: number;
  /** The figures of the run recorded before this one (bench/results), shown beside this run's. */
  previous?: { date: string; run?: string; figures: Record<string, number | null> };
}

/** The headline figures of a run, by name, to set two runs side by side. */
export function headline(r: Pick<BenchResults, 'sagas' | 'ratios' | 'delivery'>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  if (r.sagas) {
    out['completed sagas/s at saturation'] = r.sagas.saturation.completedPerSec;
    for (const run of r.sagas.scaleOut ?? []) out[`completed sagas/s at saturation, ${run.instances} instances per process`] = run.completedPerSec;
    out['messages per saga'] = r.sagas.messagesPerSaga;
    if (r.sagas.warmup) out[`latency p50 ms at ${r.sagas.warmup.offeredPerSec} sagas/s, first seconds after start`] = r.sagas.warmup.latency.p50Ms;
    for (const run of r.sagas.rates) {
      out[`latency p50 ms at ${run.offeredPerSec} sagas/s`] = run.latency.p50Ms;
      out[`latency p99 ms at ${run.offeredPerSec} sagas/s`] = run.latency.p99Ms;
    }
  }
  for (const x of r.ratios) {
    if (x.what.startsWith('sagas: messages/s at saturation (')) out['saga messages/s at saturation / debezium delivered at saturation'] = x.ratio;
    if (x.what.startsWith('replay: ')) out[`${x.what} / bare consume`] = x.ratio;
  }
  const debezium = r.delivery.find((d) => d.label === 'debezium');
  if (debezium) out['debezium delivered msg/s at saturation'] = debezium.saturation.deliveredPerSec;
  return out;
}

export function computeRatios(r: Omit<BenchResults, 'ratios'>): BenchResults['ratios'] {
  const out: BenchResults['ratios'] = [];
  const ceiling = r.ceiling.throughputPerSec;
  for (const d of r.delivery) {
    out.push({ what: `${d.label}: delivered at saturation`, value: d.saturation.deliveredPerSec, unit: 'msg/s', baseline: 'ceiling (plain inserts)', baselineValue: ceiling, ratio: ratio(d.saturation.deliveredPerSec, ceiling) });
  }
  const debezium = r.delivery.find((d) => d.mode === 'debezium' && d.label === 'debezium');
  if (r.sagas) {
    const messages = r.sagas.saturation.completedPerSec * r.sagas.messagesPerSaga;
    out.push({ what: `sagas: messages/s at saturation (${r.sagas.saturation.completedPerSec} sagas/s × ${r.sagas.messagesPerSaga} messages)`, value: Math.round(messages), unit: 'msg/s', baseline: 'debezium delivered at saturation', baselineValue: debezium?.saturation.deliveredPerSec ?? 0, ratio: ratio(messages, debezium?.saturation.deliveredPerSec) });
    out.push({ what: 'sagas: messages/s at saturation', value: Math.round(messages), unit: 'msg/s', baseline: 'ceiling (plain inserts)', baselineValue: ceiling, ratio: ratio(messages, ceiling) });
  }
  if (r.replay) {
    const bare = r.replay.runs.find((x) => x.label === 'bare kafkajs consume');
    for (const run of r.replay.runs.filter((x) => x !== bare)) {
      out.push({ what: `replay: ${run.label}`, value: run.eventsPerSec, unit: 'events/s', baseline: 'bare kafkajs consume', baselineValue: bare?.eventsPerSec ?? 0, ratio: ratio(run.eventsPerSec, bare?.eventsPerSec) });
    }
  }
  return out;
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v >= 100 ? String(Math.round(v)) : String(v));
const rateLabel = (v: number | null, unit: string) => (v === null ? 'saturation' : `${v} ${unit}/s offered`);

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const lines = [
    `# Benchmark ${r.run ?? r.date}`,
    '',
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB RAM, ${m.os}; Node ${m.node}, PostgreSQL ${m.postgres}, Kafka ${m.kafka}, Debezium ${m.debezium}. Everything (stack, load generator, consumer) on this one machine.${m.connectorsAtStart ? ` Connect carried ${m.connectorsAtStart.length} connector(s) at the start (each idle one costs CPU): ${m.connectorsAtStart.join(', ') || 'none'}.` : ''}`,
    '',
    `Rows: ${r.settings.payloadBytes}-byte payload, ${r.settings.txSize} rows per transaction, ${r.settings.writers} writer connections. Run took ${(r.elapsedMs / 60_000).toFixed(1)} min.`,
    '',
    '## Throughput, as a ratio to its ceiling or baseline',
    '',
    '| what | value | baseline | ratio |',
    '|---|---:|---|---:|',
    `| ceiling: plain inserts of outbox rows | ${fmt(r.ceiling.throughputPerSec)} rows/s | — | 1 |`,
    ...r.ratios.map((x) => `| ${x.what} | ${fmt(x.value)} ${x.unit} | ${x.baseline} (${fmt(x.baselineValue)}) | ${fmt(x.ratio)} |`),
    '',
    '## Outbox → Kafka: commit-to-consumer latency',
    '',
    '| path | load | committed msg/s | delivered msg/s | p50 ms | p95 ms | p99 ms | max ms | messages | duplicates |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const d of r.delivery) {
    for (const run of [...d.rates, d.saturation] as RateRun[]) {
      lines.push(`| ${d.label} | ${rateLabel(run.offeredPerSec, 'msg')} | ${fmt(run.committedPerSec)} | ${fmt(run.deliveredPerSec)} | ${fmt(run.latency.p50Ms)} | ${fmt(run.latency.p95Ms)} | ${fmt(run.latency.p99Ms)} | ${fmt(run.latency.maxMs)} | ${run.messages} | ${run.duplicates} |`);
    }
  }
  if (r.sagas) {
    lines.push('', '## End-to-end sagas: request to final event', '', '| load | sagas | outcomes | completed sagas/s | p50 ms | p95 ms | p99 ms |', '|---|---:|---|---:|---:|---:|---:|');
    const warmup = r.sagas.warmup ?? null;
    for (const run of [...(warmup ? [warmup] : []), ...r.sagas.rates, r.sagas.saturation, ...(r.sagas.scaleOut ?? [])] as SagaRun[]) {
      const outcomes = Object.entries(run.byState).map(([s, n]) => `${s} ${n}`).join(', ');
      const label = `${rateLabel(run.offeredPerSec, 'saga')}${(run.instances ?? 1) > 1 ? `, ${run.instances} instances per process` : ''}${run === warmup ? `, first ${(r.settings.sagas as { warmupSeconds?: number } | undefined)?.warmupSeconds ?? '?'} s after the processes started (warm-up)` : ''}`;
      lines.push(`| ${label} | ${run.sagas} | ${outcomes} | ${fmt(run.completedPerSec)} | ${fmt(run.latency.p50Ms)} | ${fmt(run.latency.p95Ms)} | ${fmt(run.latency.p99Ms)} |`);
    }
  }
  if (r.previous) {
    const now = headline(r);
    const keys = [...new Set([...Object.keys(now), ...Object.keys(r.previous.figures)])];
    const before = r.previous.run ?? r.previous.date;
    lines.push('', `## Beside the previous recorded run (${before})`, '', `| figure | ${before} | ${r.run ?? r.date} |`, '|---|---:|---:|');
    for (const k of keys) lines.push(`| ${k} | ${fmt(r.previous.figures[k] ?? null)} | ${fmt(now[k] ?? null)} |`);
  }
  if (r.replay) {
    const rounds = r.replay.rounds ?? 1;
    lines.push('', `## Replay of the event log${r.replay.lastPerPartition === null ? '' : ` (newest ${r.replay.lastPerPartition} per partition)`}`, '', `Median of ${rounds} round(s) after a warm-up round; every round's figure beside it.`, '', '| reader | events | events/s (median) | rounds |', '|---|---:|---:|---|');
    for (const run of r.replay.runs) lines.push(`| ${run.label} | ${run.events} | ${fmt(run.eventsPerSec)} | ${(run.samples ?? []).map((x) => fmt(x)).join(', ')} |`);
  }
  return lines.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars: one panel of throughputs, one of latency percentiles (log scale). */
export function chart(r: BenchResults): string {
  const throughput: { label: string; value: number }[] = [
    { label: 'ceiling: plain inserts (rows/s)', value: r.ceiling.throughputPerSec },
    ...r.delivery.map((d) => ({ label: `${d.label}: delivered (msg/s)`, value: d.saturation.deliveredPerSec })),
    ...(r.sagas ? [{ label: `sagas × ${r.sagas.messagesPerSaga} msgs (msg/s)`, value: r.sagas.saturation.completedPerSec * r.sagas.messagesPerSaga }] : []),
    ...(r.replay?.runs.map((x) => ({ label: `replay: ${x.label} (events/s)`, value: x.eventsPerSec })) ?? []),
  ];
  const latency: { label: string; p50: number; p95: number; p99: number }[] = [
    ...r.delivery.flatMap((d) =>
      [...d.rates, d.saturation].map((run) => ({ label: `${d.label} @ ${run.offeredPerSec === null ? 'saturation' : `${run.offeredPerSec}/s`}`, p50: run.latency.p50Ms ?? 0, p95: run.latency.p95Ms ?? 0, p99: run.latency.p99Ms ?? 0 })),
    ),
    ...(r.sagas ? [...r.sagas.rates, r.sagas.saturation].map((run) => ({ label: `saga @ ${run.offeredPerSec === null ? 'saturation' : `${run.offeredPerSec}/s`}`, p50: run.latency.p50Ms ?? 0, p95: run.latency.p95Ms ?? 0, p99: run.latency.p99Ms ?? 0 })) : []),
  ];
  const W = 1100;
  const labelW = 390;
  const barW = W - labelW - 170;
  const row = 22;
  const top1 = 50;
  const h1 = throughput.length * row;
  const top2 = top1 + h1 + 70;
  const h2 = latency.length * (row + 8);
  const H = top2 + h2 + 40;
  const maxT = Math.max(...throughput.map((t) => t.value), 1);
  const maxL = Math.max(...latency.map((l) => l.p99), 10);
  const logX = (v: number) => (v <= 1 ? 0 : (Math.log10(v) / Math.log10(maxL)) * barW);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">sagaline benchmark ${esc(r.date)} — ${r.machine.cpus} cores, ${r.machine.memoryGb} GB</text>`,
    `<text x="10" y="${top1 - 8}" font-weight="bold">Throughput at saturation (linear)</text>`,
  ];
  throughput.forEach((t, i) => {
    const y = top1 + i * row;
    const w = (t.value / maxT) * barW;
    out.push(`<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(t.label)}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${row - 6}" fill="${i === 0 ? '#888' : '#3b7dd8'}"/>`);
    out.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + 14}">${fmt(t.value)}</text>`);
  });
  out.push(`<text x="10" y="${top2 - 26}" font-weight="bold">Latency percentiles, ms (log scale): p50 · p95 · p99</text>`);
  const colours = { p50: '#2e9d4f', p95: '#e0a000', p99: '#d04040' } as const;
  (['p50', 'p95', 'p99'] as const).forEach((p, i) => {
    out.push(`<rect x="${labelW + i * 70}" y="${top2 - 18}" width="10" height="10" fill="${colours[p]}"/><text x="${labelW + 14 + i * 70}" y="${top2 - 9}">${p}</text>`);
  });
  // Log axis: a gridline per power of ten, labelled in ms.
  for (let decade = 1; 10 ** decade <= maxL * 10; decade++) {
    const x = labelW + logX(10 ** decade);
    if (x > labelW + barW + 1) break;
    out.push(`<line x1="${x.toFixed(1)}" y1="${top2}" x2="${x.toFixed(1)}" y2="${top2 + h2}" stroke="#ccc"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${top2 + h2 + 14}" text-anchor="middle" fill="#555">${10 ** decade} ms</text>`);
  }
  latency.forEach((l, i) => {
    const y = top2 + i * (row + 8);
    out.push(`<text x="${labelW - 6}" y="${y + 16}" text-anchor="end">${esc(l.label)}</text>`);
    (['p50', 'p95', 'p99'] as const).forEach((p, j) => {
      out.push(`<rect x="${labelW}" y="${y + 2 + j * 8}" width="${logX(l[p]).toFixed(1)}" height="7" fill="${colours[p]}"/>`);
    });
    out.push(`<text x="${(labelW + logX(l.p99) + 4).toFixed(1)}" y="${y + 16}">${fmt(l.p50)} · ${fmt(l.p95)} · ${fmt(l.p99)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
