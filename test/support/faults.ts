/**
 * Faults for the fault tests: one part of the running system — a stack component, or a process of
 * one of the examples (a service, or its saga monitor) — killed with SIGKILL (no shutdown, nothing
 * flushed, as a crash or the OOM killer would) and started again at once, as a supervisor would;
 * and the fault table the suite reports.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaClient } from '../../core/clients.ts';
import { PROJECT_ROOT } from '../../core/config.ts';
import { waitFor } from '../../core/wait.ts';
import { COMPONENT_NAMES, type ComponentName } from '../../infra/stack/component.ts';
import { Stack } from '../../infra/stack/stack.ts';
import type { ConnectComponent } from '../../infra/stack/connect.ts';
import type { KafkaComponent } from '../../infra/stack/kafka.ts';
import { inspectDelivery } from '../../outbox-connector/delivery-health.ts';
import { killProcessor, processorPlan, processorsStatus } from '../../processors/supervisor.ts';
import { tail } from '../../infra/stack/processes.ts';
import { SagalineError } from '../../core/errors.ts';
import { table } from '../../cli/output.ts';
import { config } from './fixtures.ts';
import { configOf, DEPLOYMENT_CONFIG, HTTP_CONFIG, restartProcessors, testProject, TRAINING_CONFIG } from './saga.ts';

/** A stack component, a process of the training example (`model-service`), or of the deployment example (`model-serving@deployment`). */
export type FaultTarget = ComponentName | string;
export const TRAINING_PROCESSES = ['model-service', 'resource-service', 'training-service', 'audit-service', 'saga-monitor'] as const;
export const DEPLOYMENT_PROCESSES = ['model-registry', 'model-serving', 'model-catalogue', 'announcements', 'saga-monitor'].map((p) => `${p}@deployment`);
/** The processes of the saga whose steps are HTTP calls (test/fixtures/http-saga). */
export const HTTP_PROCESSES = ['flights', 'hotels', 'cars', 'posted-saga-runner', 'saga-monitor'].map((p) => `${p}@http`);
/** Every stack component, then every process of both examples. */
export const FAULT_TARGETS: readonly FaultTarget[] = [...COMPONENT_NAMES, ...TRAINING_PROCESSES, ...DEPLOYMENT_PROCESSES];
/** The projects whose processes run during the faults. */
export const FAULT_PROJECTS = [TRAINING_CONFIG, DEPLOYMENT_CONFIG] as const;

const isComponent = (target: FaultTarget): target is ComponentName => (COMPONENT_NAMES as readonly string[]).includes(target);
/** Which project a process target belongs to, and its process name there. */
function processOf(target: string): { file: string; name: string } {
  if (target.endsWith('@http')) return { file: HTTP_CONFIG, name: target.slice(0, -'@http'.length) };
  return target.endsWith('@deployment') ? { file: DEPLOYMENT_CONFIG, name: target.slice(0, -'@deployment'.length) } : { file: TRAINING_CONFIG, name: target };
}

export async function groupMembers(group: string): Promise<{ state: string; members: string[] }> {
  const admin = kafkaClient(config, 'fault-test-groups').admin();
  await admin.connect();
  try {
    const [described] = (await admin.describeGroups([group])).groups;
    return { state: described?.state ?? 'Unknown', members: described?.members.map((m) => m.memberId) ?? [] };
  } finally {
    await admin.disconnect();
  }
}

export interface Crash {
  pid: number;
  /** When the SIGKILL was sent (ms since epoch). */
  killedAt: number;
  /** From the SIGKILL until the restarted part is healthy again (see crashAndRestart). */
  healthyMs: number;
}

/**
 * Kills `target` with SIGKILL, starts it again at once and resolves when it is healthy again: a
 * stack component once `Stack.up` (which starts only what is not running) has seen its readiness
 * probe pass; a processor once its consumer group is Stable with members none of which is the
 * killed one (a dead member lingers until its session times out).
 */
export async function crashAndRestart(target: FaultTarget, timeoutMs = 180_000): Promise<Crash> {
  if (!isComponent(target)) {
    const { file, name } = processOf(target);
    const project = await testProject(file);
    const cfg = configOf(file);
    const group = processorPlan(cfg, project).find((p) => p.name === name)!.groups[0]!;
    const before = (await groupMembers(group)).members;
    const killedAt = Date.now();
    const pid = killProcessor(cfg, project, name);
    if (pid === undefined) throw new Error(`${target} was not running`);
    await waitFor(`${target} to be gone`, () => !processorsStatus(cfg, project).find((p) => p.name === name)!.running, { timeoutMs: 10_000 });
    await restartProcessors({}, file);
    await waitFor(
      `${target}'s consumer group to be Stable with only members that joined after the kill`,
      async () => {
        const now = await groupMembers(group);
        return now.state === 'Stable' && now.members.length > 0 && now.members.every((m) => !before.includes(m));
      },
      { timeoutMs, intervalMs: 250 },
    );
    return { pid, killedAt, healthyMs: Date.now() - killedAt };
  }
  const stack = new Stack(config);
  const killedAt = Date.now();
  const pid = await stack.components[target].kill();
  if (pid === undefined) throw new Error(`${target} was not running`);
  await stack.up((line) => process.stderr.write(`[fault ${target}] ${line}\n`));
  return { pid, killedAt, healthyMs: Date.now() - killedAt };
}

/**
 * Faults of a replicated stack (test/faults/cluster/): one part of several is SIGKILLed and stays
 * down while the others carry on — sagas must keep completing meanwhile — and is started again
 * only after that. `broker-1-of-3`: the first Kafka node (every client's first bootstrap address);
 * `connect-worker-of-2`: the Connect worker that runs the most outbox connector tasks, whose
 * connectors must move to the other worker, each slot taken over there.
 */
export const CLUSTER_FAULTS = ['broker-1-of-3', 'connect-worker-of-2'] as const;
export type ClusterFault = (typeof CLUSTER_FAULTS)[number];
export const isClusterFault = (target: FaultTarget): target is ClusterFault => (CLUSTER_FAULTS as readonly string[]).includes(target);

export interface Outage {
  pid: number;
  killedAt: number;
  /** Waits until the others have taken over the killed part's work; resolves to what did not happen. */
  takenOver(timeoutMs: number): Promise<string[]>;
  /** Starts the killed part again; resolves once the whole component is healthy, to ms since the SIGKILL. */
  restart(): Promise<number>;
}

interface WorkerTasks {
  [connector: string]: { status: { tasks: { id: number; state: string; worker_id: string }[] } };
}

/** Every connector's tasks and the worker each runs on ("host:port"), asked of any worker that answers. */
async function connectorTasks(): Promise<WorkerTasks> {
  for (const url of config.connectUrls) {
    try {
      const res = await fetch(`${url}/connectors?expand=status`, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) return (await res.json()) as WorkerTasks;
    } catch {
      // that worker is down: ask the next
    }
  }
  throw new Error(`no Connect worker answers (${config.connectUrls.join(', ')})`);
}

/** SIGKILLs one part of the replicated stack and leaves it down (see CLUSTER_FAULTS). */
export async function killOne(target: ClusterFault): Promise<Outage> {
  const stack = new Stack(config);
  const log = (line: string) => process.stderr.write(`[fault ${target}] ${line}\n`);
  const restart = async (killedAt: number) => {
    await stack.up(log);
    return Date.now() - killedAt;
  };
  if (target === 'broker-1-of-3') {
    const kafka = stack.components.kafka as KafkaComponent;
    const killedAt = Date.now();
    const pid = await kafka.killNode(0);
    if (pid === undefined) throw new Error('Kafka node 1 was not running');
    return {
      pid,
      killedAt,
      // Leadership moves once the controllers see the node gone; clients follow the new leaders.
      takenOver: async (timeoutMs) => {
        const admin = kafkaClient(config, 'fault-test-leaders').admin();
        await admin.connect();
        try {
          const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
          await waitFor('no partition led by the killed node', async () => {
            const metadata = await admin.fetchTopicMetadata({ topics });
            return metadata.topics.every((t) => t.partitions.every((p) => p.leader !== 1 && p.leader !== -1));
          }, { timeoutMs, intervalMs: 500 });
          return [];
        } catch (err) {
          return [`leadership did not leave the killed node: ${(err as Error).message}`];
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      restart: () => restart(killedAt),
    };
  }
  const connect = stack.components.connect as ConnectComponent;
  const urls = connect.workerUrls();
  const before = await connectorTasks();
  const load = urls.map((url) => Object.values(before).flatMap((c) => c.status.tasks).filter((t) => url.endsWith(`//${t.worker_id}`)).length);
  const victim = load.indexOf(Math.max(...load));
  const victimId = urls[victim]!.replace(/^https?:\/\//, '');
  const connectors = Object.keys(before);
  const killedAt = Date.now();
  const pid = await connect.killWorker(victim);
  if (pid === undefined) throw new Error(`Connect worker ${victim + 1} was not running`);
  return {
    pid,
    killedAt,
    // The group sees the worker gone after its session timeout; then every task runs on the other, and streams from its slot.
    takenOver: async (timeoutMs) => {
      try {
        await waitFor(`every connector's tasks RUNNING off ${victimId}`, async () => {
          const now = await connectorTasks().catch(() => undefined);
          return now !== undefined && connectors.every((c) => {
            const tasks = now[c]?.status.tasks ?? [];
            return tasks.length > 0 && tasks.every((t) => t.state === 'RUNNING' && t.worker_id !== victimId);
          });
        }, { timeoutMs, intervalMs: 500 });
      } catch (err) {
        return [`connectors not moved: ${(err as Error).message} (${load[victim]} task(s) were on the killed worker)`];
      }
      // And each streams from its slot there: the delivery verdict (as `stack status` gives it) healthy again
      let last: string[] = [];
      try {
        await waitFor('every moved connector delivering', async () => {
          last = (await inspectDelivery(config).catch(() => [])).filter((d) => connectors.includes(d.connector) && !d.healthy).map((d) => `${d.connector}: ${d.state} (${d.detail ?? ''})`);
          return last.length === 0;
        }, { timeoutMs, intervalMs: 1_000 });
        return [];
      } catch {
        return [`connectors moved but not delivering: ${last.join('; ')}`];
      }
    },
    restart: () => restart(killedAt),
  };
}

/** A process exited: a fault elsewhere must never take one down with it. */
export class ProcessorExitedError extends SagalineError {
  constructor(exited: { name: string; log: string }[]) {
    const log = exited[0]!.log;
    super('PROCESSOR_EXITED', `${exited.map((e) => e.name).join(', ')} exited (collateral damage of the fault); last lines of ${log}:\n${tail(log, 15)}`);
  }
}

/** Throws a ProcessorExitedError at once if a process of the given projects (loaded) is not running (an abortIf for waits). */
export function processExitWatch(projects: readonly { file: string; project: Awaited<ReturnType<typeof testProject>> }[]): () => void {
  return () => {
    const exited = projects.flatMap(({ file, project }) => processorsStatus(configOf(file), project).filter((p) => !p.running).map((p) => ({ name: file === DEPLOYMENT_CONFIG ? `${p.name}@deployment` : p.name, log: p.log })));
    if (exited.length > 0) throw new ProcessorExitedError(exited);
  };
}

/** One row of the fault table, with the findings behind its counts. */
export interface FaultRow {
  fault: FaultTarget;
  sagas: number;
  /** Sagas not yet terminal when the SIGKILL was sent: the fault hit them mid-run. */
  runningAtKill: number;
  outcomes: Record<string, number>;
  lost: string[];
  duplicated: string[];
  stuck: string[];
  /** Anything else that must not happen: a wrong outcome, no recovery, processors left behind the log, a fault that missed the run. */
  otherProblems: string[];
  /** From the SIGKILL until the restarted part passed its health check. */
  healthyMs: number | null;
  /** From the SIGKILL until a saga started after the restart completed (see the suite); null: it never did. */
  recoveredMs: number | null;
}

const seconds = (ms: number | null) => (ms === null ? 'not recovered' : `${(ms / 1000).toFixed(1)} s`);
const outcomesText = (o: Record<string, number>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state.toLowerCase()}`).join(', ');

function displayRows(rows: FaultRow[]) {
  return rows.map((r) => ({
    fault: r.fault,
    sagas: r.sagas,
    lost: r.lost.length,
    'duplicated effects': r.duplicated.length,
    stuck: r.stuck.length,
    'time to recover': seconds(r.recoveredMs),
    'healthy after': seconds(r.healthyMs),
    outcomes: outcomesText(r.outcomes),
  }));
}

/** The table as plain columns, for a terminal. */
export function faultTable(rows: FaultRow[]): string {
  return table(displayRows(rows));
}

export interface FaultMeta {
  date: string;
  sagasPerFault: number;
  elapsedMs: number;
  replayDifferences: number | null;
  /** What the run did, when it is not the stack fault suite. */
  description?: string;
}

export function faultMarkdown(rows: FaultRow[], meta: FaultMeta): string {
  const display = displayRows(rows);
  const headers = Object.keys(display[0] ?? { fault: '' });
  return [
    `# Fault injection ${meta.date}`,
    '',
    meta.description ?? `${meta.sagasPerFault} sagas per fault — model trainings and model deployments at once (plus one probe saga started after the restart) — every part SIGKILLed and restarted in turn; the suite took ${(meta.elapsedMs / 60_000).toFixed(1)} min.`,
    `Replayed state vs live state: ${meta.replayDifferences === null ? 'not compared' : `${meta.replayDifferences} sagas differ`}.`,
    '',
    `| ${headers.join(' | ')} |`,
    `|${headers.map((h) => (h === 'fault' || h === 'outcomes' ? '---' : '---:')).join('|')}|`,
    ...display.map((r) => `| ${headers.map((h) => String(r[h as keyof typeof r])).join(' | ')} |`),
    '',
  ].join('\n');
}

/** Writes bench/results/faults-<date>[-<suffix>].json and .md; returns their paths. */
export function writeFaultResults(rows: FaultRow[], meta: FaultMeta, suffix?: string): string[] {
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `faults-${meta.date}${suffix ? `-${suffix}` : ''}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  writeFileSync(json, `${JSON.stringify({ ...meta, faults: rows }, null, 2)}\n`);
  writeFileSync(md, faultMarkdown(rows, meta));
  return [json, md];
}
