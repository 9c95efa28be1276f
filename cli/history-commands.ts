/** Commands that read history from the Kafka log: audit, replay, tail, dead-letters. */
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { kafkaClient, registryClient } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { PoisonMessageError, SagalineError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { listDeadLetters, redriveDeadLetters } from '../audit/dead-letters.ts';
import { auditInstance, emitterOf, type AuditTimeline } from '../audit/timeline.ts';
import { exported, parseTime, replay, type ReplayOptions, type ReplayReport } from '../audit/replay.ts';
import { historySources } from '../audit/sources.ts';
import { loadProject, type Project } from '../processors/engine/project.ts';
import { decodeMessage } from '../processors/runtime/decode.ts';
import { TOPIC_PREFIX } from '../topics/catalogue.ts';
import { printJson, progress, progressBar, table } from './output.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';

const short = (id: string) => id.slice(0, 8);

function printTimeline(t: AuditTimeline, project: Project): void {
  console.log(`saga ${t.sagaId} (${t.saga}${t.version === null ? '' : ` v${t.version}`}): ${t.events.length} messages in the event log, in causal order`);
  console.log(
    table(
      t.events.map((e, i) => ({
        '#': i + 1,
        time: e.at,
        'topic/partition@offset': `${e.topic.replace(TOPIC_PREFIX, '')}/${e.partition}@${e.offset}`,
        type: e.type,
        service: e.service,
        message: short(e.messageId),
        'caused by': e.causationId === t.sagaId ? 'the saga' : short(e.causationId),
      })),
    ),
  );
  console.log('\npayloads:');
  t.events.forEach((e, i) => console.log(`${String(i + 1).padStart(3)} ${e.type}: ${JSON.stringify(e.payload)}`));
  const s = t.state;
  if (!s) return console.log('\nno start message among these messages: no state derived');
  console.log(`\nstate derived from these messages: ${s.status}${s.reason ? ` (${s.reason})` : ''}`);
  const definition = project.sagas.find((d) => d.name === t.saga && d.version === s.version);
  const order = definition ? definition.steps.map((st) => st.name) : Object.keys(s.steps);
  console.log(table(order.filter((name) => s.steps[name]).map((name) => ({ step: name, status: s.steps[name]!.status, attempts: s.steps[name]!.attempts, reason: s.steps[name]!.reason ?? '' }))));
}

export function auditCommand(): Command {
  return new Command('audit')
    .description("a saga's whole history read from the Kafka log (not the projection): every message in causal order, and the state derived from it")
    .argument('<sagaId>')
    .option(...CONFIG_OPTION)
    .option('--json', 'print {"sagaId","saga","version","events":[{at,topic,partition,offset,type,service,messageId,causationId,payload}],"state"}')
    .action(async (sagaId: string, opts: { json?: boolean; config?: string | true }) => {
      const project = await loadProject(opts.config ?? true);
      const timeline = await auditInstance(loadConfig(), project, sagaId);
      if (opts.json) return printJson(timeline);
      printTimeline(timeline, project);
    });
}

function printReplay(r: ReplayReport): void {
  console.log(`replayed ${r.events} messages of ${r.sagas} saga(s) in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.eventsPerSecond} events/s)${r.undecodable ? `; ${r.undecodable} undecodable record(s) skipped` : ''}`);
  const types = Object.entries(r.byType).sort(([a], [b]) => a.localeCompare(b));
  if (types.length) console.log(table(types.map(([type, count]) => ({ type, messages: count }))));
  if (r.rebuild) {
    const b = r.rebuild;
    console.log(`\nfolded the log into fresh instance states${b.table ? ` (kept in table ${b.table})` : ''}: ${b.sagasCompared} saga(s) compared with the live projection (status, version and state; not its updated_at or next_deadline)`);
    if (b.liveBehindLog > 0) console.log(`note: the live projection has not read the last ${b.liveBehindLog} message(s) of the log yet; the rebuild stopped where it stands`);
    if (b.differences.length === 0) console.log('no difference');
    for (const d of b.differences) console.log(`saga ${d.sagaId} differs:\n${d.differences.map((x) => `  ${x}`).join('\n')}`);
  }
  if (r.export) console.log(`\nexported ${r.export.messages} message(s) to ${r.export.path} (last hash ${r.export.lastHash}); check it with: npx sagaline verify-export ${r.export.path}`);
}

export function replayCommand(): Command {
  return new Command('replay')
    .description("re-read the project's event logs from the start (or a time range): rebuild and compare the monitor's projection, export a hash-chained audit file")
    .option('--saga <id>', 'only this saga')
    .option('--from <time>', 'from this broker time (ISO 8601 or ms since epoch)')
    .option('--to <time>', 'up to this broker time, inclusive')
    .option('--rebuild', "fold the log into fresh instance states and compare them with the monitor's live projection, saga by saga")
    .option('--keep-table', 'with --rebuild: also write the rebuilt instances to a table beside the live one')
    .option(...CONFIG_OPTION)
    .option('--export <file.ndjson>', 'write every message read as a JSON line, hash-chained (check with verify-export)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { saga?: string; from?: string; to?: string; rebuild?: boolean; keepTable?: boolean; export?: string; json?: boolean; config?: string | true }) => {
      const project = await loadProject(opts.config ?? true);
      const bar = progressBar('replay');
      const options: ReplayOptions = {
        ...(opts.saga ? { sagaId: opts.saga } : {}),
        ...(opts.from ? { fromMs: parseTime('--from', opts.from) } : {}),
        ...(opts.to ? { toMs: parseTime('--to', opts.to) } : {}),
        ...(opts.rebuild ? { rebuild: true } : {}),
        ...(opts.keepTable ? { keepTable: true } : {}),
        ...(opts.export ? { exportPath: opts.export } : {}),
        onProgress: (done, total) => bar.update(done, total),
      };
      const report = await replay(loadConfig(), project, options);
      bar.finish();
      if (opts.json) printJson(report);
      else printReplay(report);
      if (report.rebuild && report.rebuild.differences.length > 0) process.exitCode = 1;
    });
}

/** `<name>` or `sagaline.<name>`: one of the project's event logs. */
export function resolveEventLog(project: Project, name: string): string {
  const full = name.startsWith(TOPIC_PREFIX) ? name : `${TOPIC_PREFIX}${name}`;
  const topics = historySources(project).topics;
  if (!topics.includes(full)) throw new SagalineError('REQUEST_INVALID', `"${name}" is not an event log of ${project.file}; one of: ${topics.map((t) => t.replace(TOPIC_PREFIX, '')).join(', ')}`);
  return full;
}

export function tailCommand(): Command {
  return new Command('tail')
    .description('decoded messages of a topic as they arrive (Ctrl-C stops)')
    .argument('<topic>', "one of the project's event logs: a saga's name (or a stream's)")
    .option(...CONFIG_OPTION)
    .option('--from-beginning', 'start with the oldest message instead of the next one')
    .option('--saga <id>', "only this saga's messages")
    .option('--json', 'one JSON object per line')
    .action(async (topicName: string, opts: { fromBeginning?: boolean; saga?: string; json?: boolean; config?: string | true }) => {
      const project = await loadProject(opts.config ?? true);
      const topic = resolveEventLog(project, topicName);
      const sources = historySources(project);
      const versions = sources.sagas.get(topic);
      const config = loadConfig();
      const kafka = kafkaClient(config, 'sagaline-tail');
      const registry = registryClient(config);
      const admin = kafka.admin();
      await admin.connect();
      const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
      const groupId = `sagaline-tail-${newId()}`;
      const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (opts.saga && message.key?.toString() !== opts.saga) return;
          try {
            const m = await decodeMessage(registry, topic, partition, message, sources.catalogue);
            if (opts.json) {
              process.stdout.write(`${JSON.stringify({ ...exported(m), ...(versions ? { service: emitterOf(versions.latest, m.type, m.payload) } : {}) })}\n`);
            } else {
              process.stdout.write(`${new Date(m.kafka.timestamp).toISOString()} ${topic.replace(TOPIC_PREFIX, '')}/${partition}@${message.offset} ${m.type} saga=${m.metadata.sagaId} ${JSON.stringify(m.payload)}\n`);
            }
          } catch (err) {
            if (!(err instanceof PoisonMessageError)) throw err;
            progress(`undecodable record at ${topic}/${partition}@${message.offset}: ${err.message}`);
          }
        },
      });
      // Start exactly at the end seen above: everything written after this line is printed.
      if (!opts.fromBeginning) for (const p of ends) consumer.seek({ topic, partition: p.partition, offset: p.high });
      progress(`tailing ${topic} from ${opts.fromBeginning ? 'the beginning' : 'the end'}; Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await consumer.disconnect();
      const cleanup = kafka.admin();
      await cleanup.connect();
      await cleanup.deleteGroups([groupId]).catch(() => undefined);
      await cleanup.disconnect();
    });
}

export function deadLettersCommand(): Command {
  return new Command('dead-letters')
    .description('records that could not be handled: list them, redrive them to the groups that failed')
    .addCommand(deadLettersListCommand(), { isDefault: true })
    .addCommand(redriveCommand());
}

function redriveCommand(): Command {
  return new Command('redrive')
    .description("send records back to the consumer groups that could not handle them, once (after the cause is fixed); refused for a saga that has ended or a record redriven before, unless --force")
    .argument('<position...>', 'each record by its position in its event log, <topic>/<partition>@<offset>, as `dead-letters` lists them')
    .requiredOption('--reason <text>', 'why: recorded with the redrive')
    .option('--by <name>', 'who: recorded with the redrive (default: the user running the command)')
    .option('--force', 'redrive into a saga that has ended, or a record redriven before')
    .option(...CONFIG_OPTION)
    .option('--json', 'print what was redriven as JSON')
    .action(async (positions: string[], opts: { reason: string; by?: string; force?: boolean; json?: boolean; config?: string | true }) => {
      const project = await loadProject(opts.config ?? true);
      const by = opts.by ?? userInfo().username;
      const results = await redriveDeadLetters(loadConfig(), project, positions, { reason: opts.reason, by, ...(opts.force ? { force: true } : {}) });
      if (opts.json) return printJson(results);
      for (const r of results) console.log(`redriven ${r.source.replace(TOPIC_PREFIX, '')} → ${r.to.replace(TOPIC_PREFIX, '')} for ${r.groups.length ? r.groups.join(', ') : 'every group'}`);
    });
}

function deadLettersListCommand(): Command {
  return new Command('list')
    .description("one entry per record that could not be handled: the consumer groups that failed on it, the error, and its saga's state")
    .option(...CONFIG_OPTION)
    .option('--topic <name>', "only this event log's dead letters: a saga's name (or a stream's)")
    .option('--saga <id>', "only this saga's")
    .option('--error <text>', 'only those whose error contains this text')
    .option('--json', 'print the entries as JSON')
    .action(async (opts: { topic?: string; saga?: string; error?: string; json?: boolean; config?: string | true }) => {
      const project = await loadProject(opts.config ?? true);
      const filter = { ...(opts.topic ? { topic: resolveEventLog(project, opts.topic) } : {}), ...(opts.saga ? { sagaId: opts.saga } : {}), ...(opts.error ? { error: opts.error } : {}) };
      const entries = await listDeadLetters(loadConfig(), project, filter);
      if (opts.json) return printJson(entries);
      if (entries.length === 0) return console.log('no dead letters');
      console.log(`${entries.length} record(s) could not be handled:`);
      console.log(
        table(
          entries.map((e) => ({
            'topic/partition@offset': `${e.source.topic.replace(TOPIC_PREFIX, '')}/${e.source.partition}@${e.source.offset}`,
            type: e.type ?? '',
            saga: e.sagaId ?? '',
            'saga state': e.saga ? `${e.saga.status} (${e.saga.name})` : 'no instance',
            groups: e.groups.length + e.unnamedGroups,
            'last failed': e.lastFailedAt,
            redriven: e.redriven.map((r) => r.to.replace(TOPIC_PREFIX, '')).join(', '),
          })),
        ),
      );
      for (const e of entries) {
        console.log(`\n${e.source.topic.replace(TOPIC_PREFIX, '')}/${e.source.partition}@${e.source.offset}${e.redriveOf ? ` (a redriven copy of ${e.redriveOf.replace(TOPIC_PREFIX, '')})` : ''}: ${e.error}`);
        console.log(`  failed in: ${[...e.groups, ...(e.unnamedGroups ? [`${e.unnamedGroups} group(s) not named`] : [])].join(', ')}`);
        for (const r of e.redriven) console.log(`  redriven to ${r.to.replace(TOPIC_PREFIX, '')} at ${r.at} by ${r.by} (${r.reason}) for ${r.groups.join(', ') || 'every group'}`);
      }
    });
}
