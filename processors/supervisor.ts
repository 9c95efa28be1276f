/**
 * `sagaline processors up | down | status`: every processor as its own background OS process, its
 * pid kept with the stack's state and its log in a file, so the pipeline keeps running while the
 * user drives it from another shell.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, type Config } from '../core/config.ts';
import { isOurs, spawnDetached, terminate } from '../infra/stack/processes.ts';
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
