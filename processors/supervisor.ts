/**
 * `sagaline processors up | down | status --config`: a project's sagas run as background OS
 * processes — per service (all its participants, every version in flight) and for the saga
 * monitor, one process or `--instances N` of them sharing its consumer groups (partitions spread
 * over them) — each a `sagaline run` of the same config module, its pid kept with the stack's
 * state and its log in a file, so the sagas keep running while the user drives them from another
 * shell. The HTTP API (`sagaline serve`) runs in the background the same way.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaClient } from '../core/clients.ts';
import { PROJECT_ROOT, type Config } from '../core/config.ts';
import { ConfigError, StackError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { isAlive, isOurs, isPortFree, spawnDetached, tail, terminate } from '../infra/stack/processes.ts';
import type { Project } from './engine/project.ts';
import { monitorGroup } from './engine/monitor.ts';
import { participantGroup } from './engine/run-participant.ts';

/** The process that runs a project's saga monitor (projection, deadlines, delivery guard). */
export const MONITOR_PROCESS = 'saga-monitor';

export interface ProcessorSpec {
  /** A service's name, or MONITOR_PROCESS; the second instance and later ones get `.2`, `.3`… */
  name: string;
  /** The arguments of `sagaline` that run it. */
  args: string[];
  /** The consumer groups it joins: it consumes once they are Stable with a member. */
  groups: string[];
  /** Where it serves its metrics (GET /metrics, /metrics.json). */
  metricsPort: number;
}

/** Its processes' state lives under a key of the project: the names of its sagas. */
export const projectKey = (project: Project): string => [...new Set(project.sagas.map((s) => s.name))].sort().join('+');

/** The process name of instance `i` (1-based) of a service or the monitor. */
export const instanceName = (name: string, i: number): string => (i === 1 ? name : `${name}.${i}`);

/**
 * Per service of the project, then for the monitor, `instances` processes. Metrics ports: base +
 * 1 + the process's index in this plan, so give each project that runs at once its own
 * SAGALINE_METRICS_PORT_BASE.
 */
export function processorPlan(config: Config, project: Project, instances = 1): ProcessorSpec[] {
  if (!Number.isInteger(instances) || instances < 1 || instances > 64) throw new ConfigError(`instances must be a whole number from 1 to 64, got ${instances}`);
  const services = [...new Set(project.participants.map((p) => p.service))];
  const one = [
    ...services.map((service) => ({
      name: service,
      args: ['run', '--config', project.file, '--service', service, '--no-monitor'],
      groups: [...new Set(project.participants.filter((p) => p.service === service).map(participantGroup))],
    })),
    { name: MONITOR_PROCESS, args: ['run', '--config', project.file, '--monitor-only'], groups: [...new Set(project.sagas.map((s) => monitorGroup(s.name)))] },
  ];
  const plan = one.flatMap((p) => Array.from({ length: instances }, (_, i) => ({ ...p, name: instanceName(p.name, i + 1) })));
  return plan.map((p, i) => {
    const metricsPort = config.processorMetricsPortBase + 1 + i;
    if (metricsPort > 65535) throw new ConfigError(`SAGALINE_METRICS_PORT_BASE ${config.processorMetricsPortBase} leaves no port for ${p.name}'s metrics; choose a base up to ${65535 - plan.length}`);
    return { ...p, args: [...p.args, '--metrics-port', String(metricsPort)], metricsPort };
  });
}

export interface ProcessorStatus {
  name: string;
  running: boolean;
  pid?: number;
  log: string;
  metricsPort: number;
}

const dirOf = (config: Config, project: Project) => join(config.stack.stateDir, 'processors', projectKey(project));
const pidFile = (config: Config, project: Project, name: string) => join(dirOf(config, project), `${name}.pid`);
export const processorLog = (config: Config, project: Project, name: string) => join(config.stack.stateDir, 'logs', `processor-${projectKey(project)}-${name}.log`);
/** What its command line holds: the config module and the process's name. */
const marker = (spec: ProcessorSpec) => spec.args.slice(0, spec.name === MONITOR_PROCESS ? 4 : 5).join(' ');

function runningPid(config: Config, project: Project, spec: ProcessorSpec): number | undefined {
  const file = pidFile(config, project, spec.name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return isOurs(pid, marker(spec)) ? pid : undefined;
}

const instancesFile = (config: Config, project: Project) => join(dirOf(config, project), 'instances');

/** How many instances per process the last `up` started (1 when it recorded none). */
export function recordedInstances(config: Config, project: Project): number {
  const file = instancesFile(config, project);
  const n = existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : 1;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function specsNamed(config: Config, project: Project, names?: readonly string[], instances = recordedInstances(config, project)): ProcessorSpec[] {
  const plan = processorPlan(config, project, instances);
  if (!names) return plan;
  return names.map((name) => {
    const spec = plan.find((p) => p.name === name);
    if (!spec) throw new ConfigError(`${project.file} runs no process ${name} (it runs ${plan.map((p) => p.name).join(', ')})`);
    return spec;
  });
}

export function processorsStatus(config: Config, project: Project): ProcessorStatus[] {
  return processorPlan(config, project, recordedInstances(config, project)).map((spec) => {
    const pid = runningPid(config, project, spec);
    return { name: spec.name, running: pid !== undefined, ...(pid === undefined ? {} : { pid }), log: processorLog(config, project, spec.name), metricsPort: spec.metricsPort };
  });
}

/**
 * Starts the project's processes that are not running; returns the names it started. With
 * `instances`, that many of each (more than run now: the new ones join the groups; fewer: stop the
 * project first); without, as many as the last `up` started.
 */
export function processorsUp(config: Config, project: Project, env: NodeJS.ProcessEnv = process.env, names?: readonly string[], instances?: number): string[] {
  mkdirSync(dirOf(config, project), { recursive: true });
  mkdirSync(join(config.stack.stateDir, 'logs'), { recursive: true });
  const recorded = recordedInstances(config, project);
  const wanted = instances ?? recorded;
  if (wanted < recorded && processorsStatus(config, project).some((p) => p.running)) {
    throw new ConfigError(`${recorded} instances of each process run; stop them first (\`sagaline processors down\`) to run ${wanted}`);
  }
  processorPlan(config, project, wanted); // checks the number before anything starts
  writeFileSync(instancesFile(config, project), String(wanted));
  const started: string[] = [];
  for (const spec of specsNamed(config, project, names, wanted)) {
    if (runningPid(config, project, spec) !== undefined) continue;
    const pid = spawnDetached(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), ...spec.args], { logFile: processorLog(config, project, spec.name), cwd: process.cwd(), env });
    writeFileSync(pidFile(config, project, spec.name), String(pid));
    started.push(spec.name);
  }
  return started;
}

export async function processorsDown(config: Config, project: Project, names?: readonly string[]): Promise<string[]> {
  const stopped: string[] = [];
  for (const spec of specsNamed(config, project, names)) {
    const pid = runningPid(config, project, spec);
    if (pid !== undefined) {
      await terminate(pid, config.stack.stopTimeoutMs);
      stopped.push(spec.name);
    }
    rmSync(pidFile(config, project, spec.name), { force: true });
  }
  if (!names) rmSync(instancesFile(config, project), { force: true });
  return stopped;
}

/** SIGKILL, for fault tests: no shutdown, no flush — as a crash. */
export function killProcessor(config: Config, project: Project, name: string): number | undefined {
  const [spec] = specsNamed(config, project, [name]);
  const pid = runningPid(config, project, spec as ProcessorSpec);
  if (pid !== undefined) process.kill(pid, 'SIGKILL');
  return pid;
}

/**
 * Waits until every group is Stable with as many members as it is named in `groups` (a group named
 * twice, by two instances, waits for both: the first to join makes the group Stable on its own).
 */
export async function waitForGroups(config: Config, groups: readonly string[], timeoutMs = 90_000, abortIf?: () => void): Promise<void> {
  const expected = new Map<string, number>();
  for (const g of groups) expected.set(g, (expected.get(g) ?? 0) + 1);
  const admin = kafkaClient(config, 'sagaline-readiness').admin();
  await admin.connect();
  try {
    await waitFor(
      `consumer groups ${[...expected].map(([g, n]) => (n > 1 ? `${g} (${n} members)` : g)).join(', ')} to be Stable with their members`,
      async () => (await admin.describeGroups([...expected.keys()])).groups.every((g) => g.state === 'Stable' && g.members.length >= (expected.get(g.groupId) ?? 1)),
      { timeoutMs, intervalMs: 500, ...(abortIf ? { abortIf } : {}) },
    );
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the project's processes (or those named) consume; stops waiting at once if one exits. */
export async function waitForProcessors(config: Config, project: Project, names?: readonly string[], timeoutMs = 90_000): Promise<void> {
  const specs = specsNamed(config, project, names);
  const pids = new Map(specs.map((s) => [s, runningPid(config, project, s)]));
  await waitForGroups(config, specs.flatMap((s) => s.groups), timeoutMs, () => {
    for (const [spec, pid] of pids) {
      if (pid === undefined || !isAlive(pid)) throw new StackError('COMPONENT_DIED', `processor ${spec.name} is not running; last lines of ${processorLog(config, project, spec.name)}:`, { logTail: tail(processorLog(config, project, spec.name)) });
    }
  });
}

export interface ApiStatus {
  running: boolean;
  pid?: number;
  url: string;
  log: string;
}

const apiPidFile = (config: Config) => join(config.stack.stateDir, 'processors', 'api.pid');
export const apiLog = (config: Config) => join(config.stack.stateDir, 'logs', 'api.log');
const apiUrl = (config: Config) => `http://${config.api.host}:${config.api.port}`;
const API_MARKER = 'sagaline.js serve';

function apiPid(config: Config): number | undefined {
  const file = apiPidFile(config);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return isOurs(pid, API_MARKER) ? pid : undefined;
}

export function apiStatus(config: Config): ApiStatus {
  const pid = apiPid(config);
  return { running: pid !== undefined, ...(pid === undefined ? {} : { pid }), url: apiUrl(config), log: apiLog(config) };
}

/**
 * Starts the HTTP API for the project in the background unless it runs, and waits until GET
 * /health answers (with any status: a degraded stack is still reported by a running API).
 */
export async function apiUp(config: Config, project: Project, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<string> {
  const url = apiUrl(config);
  let pid = apiPid(config);
  if (pid === undefined) {
    if (!(await isPortFree(config.api.port))) {
      throw new StackError('PORT_TAKEN', `port ${config.api.port} (HTTP API) is already in use by another process; stop it or choose another port with SAGALINE_API_PORT`);
    }
    mkdirSync(join(config.stack.stateDir, 'processors'), { recursive: true });
    mkdirSync(join(config.stack.stateDir, 'logs'), { recursive: true });
    pid = spawnDetached(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', project.file, '--port', String(config.api.port)], { logFile: apiLog(config), cwd: process.cwd(), env });
    writeFileSync(apiPidFile(config), String(pid));
  }
  const started = pid;
  await waitFor(`the HTTP API to answer GET ${url}/health`, async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) })).status > 0, {
    timeoutMs,
    intervalMs: 250,
    abortIf: () => {
      if (!isAlive(started)) throw new StackError('COMPONENT_DIED', `the HTTP API exited while starting; last lines of ${apiLog(config)}:`, { logTail: tail(apiLog(config)) });
    },
  });
  return url;
}

/** Stops the background HTTP API; true if it was running. */
export async function apiDown(config: Config): Promise<boolean> {
  const pid = apiPid(config);
  if (pid !== undefined) await terminate(pid, config.stack.stopTimeoutMs);
  rmSync(apiPidFile(config), { force: true });
  return pid !== undefined;
}
