/** Runs the real `sagaline` CLI as a child process, as a user would. */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../core/config.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function sagaline(args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<CliResult> {
  return runCommand(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), ...args], env, timeoutMs);
}

/** `npm start -- <args>`, the README's main command, from the repository. */
export function npmStart(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000): Promise<CliResult> {
  return npmRun('start', args, env, timeoutMs);
}

/** `npm run <script> -- <args>` from the repository (stdout is the script's own). */
export function npmRun(script: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<CliResult> {
  return runCommand('npm', ['run', '--silent', script, '--', ...args], env, timeoutMs);
}

function runCommand(command: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<CliResult> {
  // The child talks to the stack this run talks to (the four endpoint variables, when set, included).
  const base = { ...process.env };
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: PROJECT_ROOT,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** Ports nothing listens on right now (the OS picks them). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

/**
 * `count` consecutive free ports below the ephemeral range (32768+ on Linux), where the OS would
 * otherwise hand them out as the local ports of outgoing connections in the meantime (a client
 * reconnecting to a stopped component can even connect to itself on one), and below the default
 * stack ports (25432 and up).
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 15_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (base + count <= 25_000 && (await Promise.all(ports.map(canListen))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found between 10000 and 25000`);
}

/** Environment for a second, independent stack: its own state directory and ports (below the ephemeral range). */
export async function isolatedStackEnv(stateDir: string): Promise<Record<string, string>> {
  const base = await freePortRange(6);
  const [pg, kafka, ctl, connect, registry, mgmt] = Array.from({ length: 6 }, (_, i) => base + i);
  return {
    SAGALINE_STATE_DIR: stateDir,
    SAGALINE_PG_PORT: String(pg),
    SAGALINE_KAFKA_PORT: String(kafka),
    SAGALINE_KAFKA_CONTROLLER_PORT: String(ctl),
    SAGALINE_CONNECT_PORT: String(connect),
    SAGALINE_REGISTRY_PORT: String(registry),
    SAGALINE_REGISTRY_MANAGEMENT_PORT: String(mgmt),
  };
}

/**
 * Resolves as `wait` (a wait for `sagaId` to complete) does; if it fails, fails with what would
 * explain why: the saga's status, the stack's delivery health and the last lines of the process
 * that runs the saga's participants (`processLog`).
 */
export async function completed<T>(sagaId: string, configFile: string, processLog: () => string, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    const status = await sagaline(['status', sagaId, '--config', configFile]);
    const stack = await sagaline(['stack', 'status']);
    const tail = processLog().split('\n').slice(-40).join('\n');
    throw new Error(`${(err as Error).message}\n-- sagaline status:\n${status.stdout}${status.stderr}\n-- sagaline stack status:\n${stack.stdout}${stack.stderr}\n-- the participants' process, last lines:\n${tail}`, { cause: err });
  }
}
