import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../core/config.ts';
import type { Artifacts, Progress } from './artifacts.ts';
import { commandLine } from './processes.ts';

export type ComponentName = 'postgres' | 'kafka' | 'connect' | 'registry';
export const COMPONENT_NAMES: readonly ComponentName[] = ['postgres', 'kafka', 'connect', 'registry'];

export interface ComponentStatus {
  name: ComponentName;
  healthy: boolean;
  url: string;
  pid?: number;
  rssMb?: number;
  /** Why it is not healthy, or extra facts when it is. */
  detail?: string;
}

/** One process of the local stack: how to start it, how to tell it is ready, how to stop it. */
export interface Component {
  readonly name: ComponentName;
  readonly url: string;
  readonly ports: { name: string; port: number }[];
  readonly logFile: string;
  /** The pid of this stack's running process, or undefined. Never another stack's or a stranger's. */
  pid(): number | undefined;
  /** For a component of several processes (a Kafka cluster): a pid of any that still runs, though `pid()` says it is not all there. */
  anyPid?(): number | undefined;
  /** Why it is not all there, when only some of its processes run. */
  partial?(): string | undefined;
  /** For a component of several processes: the ports of those not running (what `start` will listen on). */
  portsToStart?(): { name: string; port: number }[];
  /** Prepares state (first run only) and launches the process; does not wait for readiness. Resolves to the launched pid. */
  start(artifacts: Artifacts, progress: Progress): Promise<number>;
  /** One readiness probe: resolves to undefined when ready, else a short reason. */
  probe(): Promise<string | undefined>;
  /** Stops this stack's process, if running. */
  stop(): Promise<void>;
  /**
   * For fault tests: kills this stack's process with SIGKILL, as a crash would (no shutdown, nothing
   * flushed), and resolves once it and everything it had started is gone, so `Stack.up` can start it
   * again at once. Resolves to the killed pid, or undefined when it was not running.
   */
  kill(): Promise<number | undefined>;
}

export interface ComponentContext {
  config: Config;
  logsDir: string;
}

/** Marker put on a JVM's command line, so `down` finds exactly the processes this stack started. */
export function jvmMarker(stateDir: string, name: string): string {
  return `-Dsagaline.stack=${stateDir}#${name}`;
}

/** Finds the live process whose command line carries `marker` (scans /proc; no pid file to go stale). */
export function findByMarker(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmd = commandLine(pid);
    if (cmd && cmd.split(' ').includes(marker)) return pid;
  }
  return undefined;
}

export function logFileOf(logsDir: string, name: string): string {
  return join(logsDir, `${name}.log`);
}

export async function httpOk(url: string, timeoutMs = 2_000): Promise<{ ok: boolean; status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { ok: res.ok, status: res.status, body: await res.text() };
}
