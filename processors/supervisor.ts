/**
 * `sagaline processors up | down | status`: every processor as its own background OS process, its
 * pid kept with the stack's state and its log in a file, so the pipeline keeps running while the
 * user drives it from another shell. The HTTP API (`sagaline serve`) runs in the background the
 * same way.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, type Config } from '../core/config.ts';
import { StackError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
import { isAlive, isOurs, isPortFree, spawnDetached, tail, terminate } from '../infra/stack/processes.ts';
import { PROCESSOR_NAMES, type ProcessorName } from './index.ts';

export interface ProcessorStatus {
  name: ProcessorName;
  running: boolean;
  pid?: number;
  log: string;
}

const pidFile = (config: Config, name: ProcessorName) => join(config.stack.stateDir, 'processors', `${name}.pid`);
export const processorLog = (config: Config, name: ProcessorName) => join(config.stack.stateDir, 'logs', `processor-${name}.log`);
const marker = (name: ProcessorName) => `processor ${name}`;

function runningPid(config: Config, name: ProcessorName): number | undefined {
  const file = pidFile(config, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return isOurs(pid, marker(name)) ? pid : undefined;
}

export function processorsStatus(config: Config): ProcessorStatus[] {
  return PROCESSOR_NAMES.map((name) => {
    const pid = runningPid(config, name);
    return { name, running: pid !== undefined, ...(pid === undefined ? {} : { pid }), log: processorLog(config, name) };
  });
}

/** Starts the processors that are not running; returns the names it started. */
export function processorsUp(config: Config, env: NodeJS.ProcessEnv = process.env): ProcessorName[] {
  mkdirSync(join(config.stack.stateDir, 'processors'), { recursive: true });
  mkdirSync(join(config.stack.stateDir, 'logs'), { recursive: true });
  const started: ProcessorName[] = [];
  for (const name of PROCESSOR_NAMES) {
    if (runningPid(config, name) !== undefined) continue;
    const pid = spawnDetached(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'processor', name], { logFile: processorLog(config, name), cwd: PROJECT_ROOT, env });
    writeFileSync(pidFile(config, name), String(pid));
    started.push(name);
  }
  return started;
}

export async function processorsDown(config: Config, names: readonly ProcessorName[] = PROCESSOR_NAMES): Promise<ProcessorName[]> {
  const stopped: ProcessorName[] = [];
  for (const name of names) {
    const pid = runningPid(config, name);
    if (pid !== undefined) {
      await terminate(pid, config.stack.stopTimeoutMs);
      stopped.push(name);
    }
    rmSync(pidFile(config, name), { force: true });
  }
  return stopped;
}

/** SIGKILL, for fault tests: no shutdown, no flush — as a crash. */
export function killProcessor(config: Config, name: ProcessorName): number | undefined {
  const pid = runningPid(config, name);
  if (pid !== undefined) process.kill(pid, 'SIGKILL');
  return pid;
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
 * Starts the HTTP API in the background unless it runs, and waits until GET /health answers (with
 * any status: a degraded stack is still reported by a running API). Returns its URL.
 */
export async function apiUp(config: Config, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<string> {
  const url = apiUrl(config);
  let pid = apiPid(config);
  if (pid === undefined) {
    if (!(await isPortFree(config.api.port))) {
      throw new StackError('PORT_TAKEN', `port ${config.api.port} (HTTP API) is already in use by another process; stop it or choose another port with SAGALINE_API_PORT`);
    }
    mkdirSync(join(config.stack.stateDir, 'processors'), { recursive: true });
    mkdirSync(join(config.stack.stateDir, 'logs'), { recursive: true });
    pid = spawnDetached(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--port', String(config.api.port)], { logFile: apiLog(config), cwd: PROJECT_ROOT, env });
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
