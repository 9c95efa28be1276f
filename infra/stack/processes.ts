/** Small helpers around OS processes, ports and log files used by the stack manager. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, existsSync, openSync, closeSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { StackError } from '../../core/errors.ts';
import { waitFor } from '../../core/wait.ts';

/** Resolves a command name the way a shell would; undefined when it is not installed. */
export function which(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (isAbsolute(command) || command.includes('/')) return executable(command) ? command : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output. `onLine` sees stdout and stderr lines as they come. */
export function run(
  command: string,
  args: string[],
  options: SpawnOptions & { onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const feed = (chunk: string) => {
      if (!options.onLine) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    };
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      feed(c);
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      feed(c);
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * Starts a long-running process detached from this one (it outlives the CLI), with stdout and
 * stderr appended to `logFile`. Returns its pid.
 */
export function spawnDetached(command: string, args: string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): number {
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new StackError('COMMAND_FAILED', `could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) still answers signal 0.
  const state = stateOf(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The process's state letter from /proc (R running, S sleeping, T stopped, Z zombie…), or undefined when it no longer exists. */
export function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: the fields after it are counted from its end.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The process's command line, or undefined when it no longer exists. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and its command line contains `marker` (guards against pid reuse). */
export function isOurs(pid: number | undefined, marker: string): boolean {
  if (pid === undefined || !isAlive(pid)) return false;
  return commandLine(pid)?.includes(marker) ?? false;
}

/** Resident set size in MiB, from /proc. */
export function residentMb(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** True when nothing listens on 127.0.0.1:port (we can bind it ourselves). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

export function tail(file: string, lines = 20): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
}

/** The parent's pid (from /proc), or undefined when `pid` no longer exists. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 4 (ppid) comes after the command name, which is in parentheses and may hold spaces.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((child) => parentOf(child) === pid);
}

/** True while the pid exists at all, a zombie not yet reaped included (unlike isAlive). */
export function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * SIGKILL, as a crash or the OOM killer would: no shutdown, nothing flushed. Resolves once every
 * one of `pids` is gone, so whatever they held (ports, shared memory, files) is free again.
 */
export async function killNow(pids: readonly number[], timeoutMs = 10_000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await waitFor(`processes ${pids.join(', ')} to be gone after SIGKILL`, () => pids.every(hasExited), { timeoutMs, intervalMs: 50 });
}

/**
 * True once every thread of `pid` has exited (so its files and sockets are closed). A process whose
 * main thread is already a zombie may still have threads tearing down, holding its sockets; a JVM
 * has dozens.
 */
function hasExited(pid: number): boolean {
  if (isAlive(pid)) return false;
  try {
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true; // reaped
  }
}

/** Waits until nothing listens on any of `ports` any more. */
export async function waitForPortsFree(ports: readonly { name: string; port: number }[], timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `ports ${ports.map((p) => `${p.port} (${p.name})`).join(', ')} to be free`,
    async () => (await Promise.all(ports.map((p) => isPortFree(p.port)))).every(Boolean),
    { timeoutMs, intervalMs: 100 },
  );
}

/** Sends SIGTERM, waits for the process to exit, then SIGKILL if it did not within the deadline. */
export async function terminate(pid: number, timeoutMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    await waitFor(`process ${pid} to exit`, () => !isAlive(pid), { timeoutMs, intervalMs: 200 });
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await waitFor(`process ${pid} to exit after SIGKILL`, () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 100 });
  }
}
