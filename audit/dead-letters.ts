/**
 * Dead letters, as an operator looks for them: one entry per record that could not be handled,
 * however many consumer groups sent it to the dead-letter topic, with the groups that failed, the
 * error, and where the saga it belongs to stands in the live projection.
 *
 * Every group that reads a topic decodes each record itself, so one undecodable record becomes
 * one dead letter per group (each names its group in `dlq.group`; letters written before that
 * header existed are counted as from an unnamed group). Grouping is pure (`groupDeadLetters`); the
 * reading and the saga lookup are at the edges.
 */
import { Partitioners, type KafkaMessage } from 'kafkajs';
import { kafkaClient, pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import type { Project } from '../processors/engine/project.ts';
import { REDRIVE_HEADERS } from '../processors/runtime/consumer.ts';
import { headerStrings } from '../processors/runtime/decode.ts';
import { isTerminal, type InstanceStatus } from '../processors/saga/instance.ts';
import { deadLetterTopicFor, TOPIC_PREFIX } from '../topics/catalogue.ts';
import { readLog } from './log-reader.ts';
import { historySources } from './sources.ts';

/** One dead letter as read from a `<topic>.dlq`: its headers as text, and where it is. */
export interface DeadLetterRecord {
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
}

export interface DeadLetterEntry {
  /** Where the record that failed is, in its event log. */
  source: { topic: string; partition: number; offset: string };
  messageId: string | null;
  type: string | null;
  sagaId: string | null;
  /** The error of the first dead letter (each group meets the same one: decoding does not depend on the group). */
  error: string;
  errorCode: string;
  /** The consumer groups that could not handle it, sorted. */
  groups: string[];
  /** Dead letters of it without a group (written before dead letters named their group). */
  unnamedGroups: number;
  firstFailedAt: string;
  lastFailedAt: string;
  /** The dead letters themselves, on `<topic>.dlq`. */
  deadLetters: { topic: string; partition: number; offset: string }[];
  /** The saga in the live projection: null when it has no instance there (or the projection was never created). */
  saga?: { name: string; status: string; tenantId: string } | null;
  /** Each time it was redriven: where the copy went, to which groups, by whom and why. */
  redriven: Redrive[];
  /** When the record that failed was itself a redriven copy: the position of the record it copied. */
  redriveOf: string | null;
}

export interface Redrive {
  /** `topic/partition@offset` of the copy written to the event log. */
  to: string;
  groups: string[];
  by: string;
  reason: string;
  at: string;
}

/** Headers of the record written beside the dead letters once they were redriven. */
const REDRIVEN_MARK = { of: 'dlq.redriven.of', to: 'dlq.redriven.to', groups: 'dlq.redriven.groups', by: 'dlq.redriven.by', reason: 'dlq.redriven.reason', at: 'dlq.redriven.at' } as const;

export const positionOf = (p: { topic: string; partition: number; offset: string }) => `${p.topic}/${p.partition}@${p.offset}`;

export interface DeadLetterFilter {
  /** Only dead letters of this event log (full topic name). */
  topic?: string;
  sagaId?: string;
  /** Only those whose error contains this text (case-insensitive). */
  error?: string;
}

/** One entry per source record, in the order their first dead letter was written. Pure. */
export function groupDeadLetters(deadLetterTopic: string, letters: readonly DeadLetterRecord[], filter: DeadLetterFilter = {}): DeadLetterEntry[] {
  const bySource = new Map<string, DeadLetterEntry>();
  const wanted = filter.error?.toLowerCase();
  const marks: DeadLetterRecord[] = [];
  for (const d of letters) {
    const h = d.headers;
    if (h[REDRIVEN_MARK.of] !== undefined) {
      marks.push(d);
      continue;
    }
    const topic = h['dlq.source.topic'] ?? deadLetterTopic.replace(/\.dlq$/, '');
    const partition = Number(h['dlq.source.partition'] ?? -1);
    const offset = h['dlq.source.offset'] ?? `?${d.offset}`;
    const error = h['dlq.error'] ?? '(no error recorded)';
    if (filter.topic !== undefined && topic !== filter.topic) continue;
    const sagaId = h.sagaId ?? d.key;
    if (filter.sagaId !== undefined && sagaId !== filter.sagaId) continue;
    if (wanted !== undefined && !error.toLowerCase().includes(wanted)) continue;
    const key = `${topic}/${partition}@${offset}`;
    const at = h['dlq.failed.at'] ?? '';
    let entry = bySource.get(key);
    if (!entry) {
      entry = {
        source: { topic, partition, offset },
        messageId: h.id ?? null,
        type: h.eventType ?? null,
        sagaId: sagaId ?? null,
        error,
        errorCode: h['dlq.error.code'] ?? '',
        groups: [],
        unnamedGroups: 0,
        firstFailedAt: at,
        lastFailedAt: at,
        deadLetters: [],
        redriven: [],
        redriveOf: h[REDRIVE_HEADERS.of] ?? null,
      };
      bySource.set(key, entry);
    }
    const group = h['dlq.group'];
    if (group === undefined) entry.unnamedGroups += 1;
    else if (!entry.groups.includes(group)) entry.groups.push(group);
    if (at && (!entry.firstFailedAt || at < entry.firstFailedAt)) entry.firstFailedAt = at;
    if (at > entry.lastFailedAt) entry.lastFailedAt = at;
    entry.deadLetters.push({ topic: deadLetterTopic, partition: d.partition, offset: d.offset });
  }
  for (const e of bySource.values()) e.groups.sort();
  for (const m of marks) {
    const h = m.headers;
    bySource.get(h[REDRIVEN_MARK.of] as string)?.redriven.push({ to: h[REDRIVEN_MARK.to] ?? '', groups: (h[REDRIVEN_MARK.groups] ?? '').split(',').filter(Boolean), by: h[REDRIVEN_MARK.by] ?? '', reason: h[REDRIVEN_MARK.reason] ?? '', at: h[REDRIVEN_MARK.at] ?? '' });
  }
  return [...bySource.values()];
}

const toRecord = (m: KafkaMessage, partition: number): DeadLetterRecord => ({ partition, offset: m.offset, key: m.key?.toString() ?? null, headers: headerStrings(m.headers) });

/**
 * The dead letters of a project's event logs (or of one, `filter.topic`), one entry per source
 * record, each with the state of its saga in the live projection.
 */
export async function listDeadLetters(config: Config, project: Project, filter: DeadLetterFilter = {}, timeoutMs = 60_000): Promise<DeadLetterEntry[]> {
  return withSagaStates(config, (await readDeadLetters(config, project, filter, timeoutMs)).entries);
}

/** The entries, and each dead letter as fetched (by `topic/partition@offset` on its dead-letter topic), for redriving. */
async function readDeadLetters(config: Config, project: Project, filter: DeadLetterFilter, timeoutMs: number): Promise<{ entries: DeadLetterEntry[]; raw: Map<string, KafkaMessage> }> {
  const logs = historySources(project).topics;
  if (filter.topic !== undefined && !logs.includes(filter.topic)) {
    throw new SagalineError('REQUEST_INVALID', `"${filter.topic.replace(TOPIC_PREFIX, '')}" is not an event log of ${project.file}; one of: ${logs.map((t) => t.replace(TOPIC_PREFIX, '')).join(', ')}`);
  }
  const admin = kafkaClient(config, 'sagaline-dead-letters').admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics().finally(() => admin.disconnect()));
  // A dead-letter topic that was never provisioned holds nothing.
  const topics = (filter.topic !== undefined ? [filter.topic] : logs).map(deadLetterTopicFor).filter((t) => existing.has(t));
  const entries: DeadLetterEntry[] = [];
  const raw = new Map<string, KafkaMessage>();
  for (const topic of topics) {
    const letters: DeadLetterRecord[] = [];
    await readLog(config, {
      topics: [topic],
      catalogue: historySources(project).catalogue,
      timeoutMs,
      onRecord: (m, p) => {
        letters.push(toRecord(m, p.partition));
        raw.set(positionOf({ topic, partition: p.partition, offset: m.offset }), m);
      },
    });
    entries.push(...groupDeadLetters(topic, letters, filter));
  }
  return { entries, raw };
}

async function withSagaStates(config: Config, entries: DeadLetterEntry[]): Promise<DeadLetterEntry[]> {
  const ids = [...new Set(entries.map((e) => e.sagaId).filter((id): id is string => id !== null))];
  if (ids.length === 0) return entries.map((e) => ({ ...e, saga: null }));
  const pool = pgPool(config, SAGAS_DATABASE, 1);
  try {
    const rows = await pool
      .query<{ saga_id: string; saga: string; status: string; tenant_id: string }>('select saga_id, saga, status, tenant_id from saga_instances where saga_id = any($1)', [ids])
      .then((r) => r.rows)
      .catch((err: { code?: string }) => {
        if (err.code === '42P01' || err.code === '3D000') return []; // the monitor never ran here
        throw err;
      });
    const byId = new Map(rows.map((r) => [r.saga_id, { name: r.saga, status: r.status, tenantId: r.tenant_id }]));
    return entries.map((e) => ({ ...e, saga: (e.sagaId !== null && byId.get(e.sagaId)) || null }));
  } finally {
    await pool.end();
  }
}

export interface RedriveOptions {
  /** Why (recorded with the copy and beside the dead letters). */
  reason: string;
  /** Who (recorded likewise). */
  by: string;
  /** Redrive into a saga that has ended, or a record redriven before. */
  force?: boolean;
  timeoutMs?: number;
}

export interface RedriveResult {
  source: string;
  to: string;
  groups: string[];
  sagaId: string | null;
}

/**
 * Sends each record (by its `topic/partition@offset` in its event log) back to the groups that
 * could not handle it, once: a copy on the same partition of the same event log, carrying the
 * names of those groups (every other group passes over it) and who redrove it, when and why; then
 * a mark beside its dead letters, so the listing shows it and a second redrive is refused unless
 * forced. The copy keeps the record's message id, so a handler that did see it (an inbox) does
 * not apply it twice. Everything is checked before anything is written: an unknown position, a
 * saga that has ended or a record redriven before (both unless forced) refuse the whole request.
 */
export async function redriveDeadLetters(config: Config, project: Project, positions: readonly string[], options: RedriveOptions): Promise<RedriveResult[]> {
  if (positions.length === 0) throw new SagalineError('REQUEST_INVALID', 'name at least one dead letter to redrive, by the position of its record: <topic>/<partition>@<offset>');
  if (!options.reason?.trim()) throw new SagalineError('REQUEST_INVALID', 'a reason is required: it is recorded with the redrive');
  if (!options.by?.trim()) throw new SagalineError('REQUEST_INVALID', 'who redrives is required: it is recorded with the redrive');
  const wanted = positions.map((p) => normalPosition(p));
  const { entries: all, raw } = await readDeadLetters(config, project, {}, options.timeoutMs ?? 60_000);
  const entries = await withSagaStates(config, all);
  const chosen = wanted.map((position) => {
    const entry = entries.find((e) => positionOf(e.source) === position);
    if (!entry) throw new SagalineError('DEAD_LETTER_NOT_FOUND', `no dead letter of the record at ${position} (list them with \`sagaline dead-letters\`)`);
    return entry;
  });
  const problems: string[] = [];
  for (const e of chosen) {
    if (options.force) continue;
    if (e.saga && isTerminal(e.saga.status as InstanceStatus)) problems.push(`${positionOf(e.source)}: saga ${e.sagaId} (${e.saga.name}) has ended (${e.saga.status}); force it (--force, or "force": true over HTTP) to redrive into it anyway`);
    const last = e.redriven.at(-1);
    if (last) problems.push(`${positionOf(e.source)}: redriven before, to ${last.to} at ${last.at} by ${last.by}; force it to redrive it again`);
    if (e.groups.length === 0) problems.push(`${positionOf(e.source)}: its dead letters name no consumer group (written before they did); force it to send it to every group`);
  }
  // Where the copy goes must be known, forced or not.
  const nowhere = chosen.filter((e) => !(e.source.partition >= 0) || !/^\d+$/.test(e.source.offset)).map((e) => `${positionOf(e.source)}: its dead letters do not say which partition and offset the record had`);
  if (nowhere.length > 0) throw new SagalineError('REQUEST_INVALID', `nothing redriven:\n  - ${nowhere.join('\n  - ')}`);
  if (problems.length > 0) {
    const code = problems.some((p) => p.includes('has ended')) ? 'SAGA_ENDED' : problems.some((p) => p.includes('redriven before')) ? 'ALREADY_REDRIVEN' : 'GROUPS_UNKNOWN';
    throw new SagalineError(code, `nothing redriven:\n  - ${problems.join('\n  - ')}`);
  }

  const kafka = kafkaClient(config, 'sagaline-redrive');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const at = new Date().toISOString();
  const results: RedriveResult[] = [];
  try {
    for (const e of chosen) {
      const letter = raw.get(positionOf(e.deadLetters[0]!)) as KafkaMessage;
      const headers: Record<string, string | Buffer> = {};
      for (const [k, v] of Object.entries(letter.headers ?? {})) {
        const first = Array.isArray(v) ? v[0] : v;
        if (first !== undefined && !k.startsWith('dlq.') && !k.startsWith('sagaline.redrive.')) headers[k] = first;
      }
      // No group named (letters older than the group header), forced: every group takes it, as at first.
      const groups = e.groups;
      const copy = { ...headers, [REDRIVE_HEADERS.of]: positionOf(e.source), [REDRIVE_HEADERS.by]: options.by, [REDRIVE_HEADERS.reason]: options.reason, [REDRIVE_HEADERS.at]: at, ...(groups.length ? { [REDRIVE_HEADERS.groups]: groups.join(',') } : {}) };
      const [sent] = await producer.send({ topic: e.source.topic, acks: -1, messages: [{ key: letter.key, value: letter.value, partition: e.source.partition, headers: copy }] });
      const to = positionOf({ topic: e.source.topic, partition: e.source.partition, offset: String(sent?.baseOffset ?? '?') });
      const dlq = e.deadLetters[0]!.topic;
      await producer.send({
        topic: dlq,
        acks: -1,
        messages: [{ key: letter.key, value: null, headers: { [REDRIVEN_MARK.of]: positionOf(e.source), [REDRIVEN_MARK.to]: to, [REDRIVEN_MARK.groups]: groups.join(','), [REDRIVEN_MARK.by]: options.by, [REDRIVEN_MARK.reason]: options.reason, [REDRIVEN_MARK.at]: at } }],
      });
      results.push({ source: positionOf(e.source), to, groups, sagaId: e.sagaId });
    }
  } finally {
    await producer.disconnect();
  }
  return results;
}

/** `orders/2@40` or `sagaline.orders/2@40`, as `sagaline.orders/2@40`. */
function normalPosition(position: string): string {
  const m = /^(.+)\/(\d+)@(\d+)$/.exec(position.trim());
  if (!m) throw new SagalineError('REQUEST_INVALID', `"${position}" is not a record position: <topic>/<partition>@<offset>, as \`sagaline dead-letters\` lists them`);
  const topic = m[1]!.startsWith(TOPIC_PREFIX) ? m[1]! : `${TOPIC_PREFIX}${m[1]}`;
  return `${topic}/${Number(m[2])}@${m[3]}`;
}
