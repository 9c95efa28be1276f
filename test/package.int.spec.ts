/**
 * The package as another project gets it: `npm pack`, installed into an empty folder outside the
 * repository, imported under plain Node (no tsx), its declarations checked by TypeScript, and its
 * CLI bringing up a local stack of the project's own.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { freePortRange } from './support/cli.ts';

const run = promisify(execFile);
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The process's state letter and parent from /proc; undefined once it is gone. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: the fields after it are counted from its end.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state as string, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

const livePids = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
const alive = (pid: number) => !['Z', 'X', undefined].includes(procStat(pid)?.state);

/** `roots` and every live process below them (Postgres' backends and workers hang off the postmaster). */
function processTree(roots: number[]): number[] {
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const pid of livePids()) {
      const parent = procStat(pid)?.ppid;
      if (parent !== undefined && tree.has(parent) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Every live process whose command line mentions `needle` (independent of the stack's own bookkeeping). */
function processesMentioning(needle: string): string[] {
  return livePids().flatMap((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      return pid !== process.pid && alive(pid) && cmd.includes(needle) ? [`${pid}: ${cmd.slice(0, 120)}`] : [];
    } catch {
      return []; // exited meanwhile
    }
  });
}

async function listenable(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

const CONSUMER = `
import { defineSaga, SagaDefinitionError, foldInstance } from 'sagaline';
import { sagaSpecification } from 'sagaline/testing';

const saga = defineSaga({
  name: 'room-booking', version: 1, startedBy: 'BookingRequested',
  steps: {
    HOLD: { owner: 'rooms', succeeded: 'RoomHeld', failed: 'NoRoom', compensatedBy: 'RoomReleased' },
    CHARGE: { owner: 'billing', after: ['HOLD'], pivot: true, succeeded: 'Charged', failed: 'ChargeFailed' },
  },
});
const out = { steps: saga.steps.map((s) => s.name) };
try {
  defineSaga({ name: 'room-booking', version: 1, startedBy: 'BookingRequested', steps: { HOLD: { owner: 'rooms', after: ['NOPE'], succeeded: 'RoomHeld', failed: 'NoRoom' } } });
} catch (err) {
  out.refused = err instanceof SagaDefinitionError ? err.problems.map((p) => p.code + ' ' + p.path) : String(err);
}
out.afterHold = foldInstance(saga, [
  { sagaId: 'b-1', type: 'BookingRequested', at: '2026-01-01T00:00:00Z' },
  { sagaId: 'b-1', type: 'RoomHeld', at: '2026-01-01T00:00:01Z' },
]).commands;
sagaSpecification(saga).given([{ type: 'BookingRequested' }]).when({ type: 'NoRoom' }).then({ status: 'Compensated', commands: [] });
console.log(JSON.stringify(out));
`;

const TSCONFIG = JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [] } });

describe('the packed package, installed elsewhere', () => {
  let dir: string;
  /** The second stack `npx sagaline stack up` started in `dir`, until it is seen stopped. */
  let secondStack: { env: NodeJS.ProcessEnv; stateDir: string } | undefined;

  beforeAll(async () => {
    // Given the tarball npm pack makes, installed into an empty project
    dir = mkdtempSync(join(tmpdir(), 'sagaline-consumer-'));
    await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: PROJECT_ROOT, maxBuffer: 16 << 20 });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball, 'npm pack wrote a tarball').toBeDefined();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', `./${tarball}`, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--silent'], { cwd: dir, maxBuffer: 16 << 20 });
  }, 300_000);

  afterAll(async () => {
    // Stopped even when the test failed halfway. Through the installed CLI itself and with the state
    // directory named, so this can only ever stop the stack started in `dir`, never the shared one.
    if (secondStack) {
      const cli = join(dir, 'node_modules', 'sagaline', 'bin', 'sagaline.js');
      await run(process.execPath, [cli, 'stack', 'down'], { cwd: dir, env: { ...secondStack.env, SAGALINE_STATE_DIR: secondStack.stateDir }, timeout: 120_000 }).catch(
        (err: Error) => process.stderr.write(`[package] stopping the second stack failed: ${err.message}\n`),
      );
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is imported by plain Node: a saga is defined, a bad one refused with a typed error, a history folded, the test kit run', async () => {
    // When a plain ES module imports it
    writeFileSync(join(dir, 'consumer.mjs'), CONSUMER);
    const { stdout } = await run(process.execPath, ['consumer.mjs'], { cwd: dir });
    // Then
    expect(JSON.parse(stdout)).toEqual({
      steps: ['HOLD', 'CHARGE'],
      refused: ['UNKNOWN_STEP steps.HOLD.after[0]'],
      afterHold: [{ kind: 'run', step: 'CHARGE', owner: 'billing' }],
    });
  });

  it("runs the README's example as written", async () => {
    // Given the first code block of the README's section on defining a saga
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Defining a saga of your own'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code, 'the README section has a js block').toBeDefined();
    // When it runs as a module of the installed project (then() throws if the saga does otherwise)
    writeFileSync(join(dir, 'readme.mjs'), `${code}\nconsole.log('ran');\n`);
    const { stdout } = await run(process.execPath, ['readme.mjs'], { cwd: dir });
    // Then
    expect(stdout.trim()).toBe('ran');
  });

  it("ships the CLI: `sagaline codegen` types the project's own schemas, and refuses a folder without messages", async () => {
    // Given a schema of the project's own, in its own namespace
    mkdirSync(join(dir, 'schemas', 'messages'), { recursive: true });
    writeFileSync(join(dir, 'schemas', 'messages', 'RoomHeld.avsc'), JSON.stringify({ type: 'record', name: 'RoomHeld', namespace: 'com.example.booking', fields: [{ name: 'roomId', type: 'string' }, { name: 'nights', type: 'int' }] }));
    const cli = join(dir, 'node_modules', 'sagaline', 'bin', 'sagaline.js');
    // When the installed CLI runs codegen there
    const { stderr } = await run(process.execPath, [cli, 'codegen'], { cwd: dir });
    // Then the types are written beside the schemas
    expect(stderr).toContain('schemas/generated.ts: 1 message types');
    expect(readFileSync(join(dir, 'schemas', 'generated.ts'), 'utf8')).toContain('export interface RoomHeld {\n  roomId: string;\n  nights: number;\n}');
    // And a folder without messages/ is one clear line, exit code not 0
    const refused = await run(process.execPath, [cli, 'codegen', '--schemas', 'nowhere'], { cwd: dir }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toMatch(/^sagaline: error: \S*\/nowhere has no messages\/ folder: one \.avsc file per message record goes there \(shared types in shared\/\)$/);
  });

  it('ships declarations: TypeScript accepts a right use and refuses a wrong one', async () => {
    writeFileSync(join(dir, 'tsconfig.json'), TSCONFIG);
    writeFileSync(join(dir, 'good.ts'), `import { defineSaga, type SagaDefinition } from 'sagaline';\nexport const s: SagaDefinition = defineSaga({ name: 'a', version: 1, startedBy: 'Go', steps: { ONE: { owner: 'x', succeeded: 'Done', failed: 'NotDone' } } });\n`);
    await run(process.execPath, [TSC, '-p', '.'], { cwd: dir });
    writeFileSync(join(dir, 'bad.ts'), `import { defineSaga } from 'sagaline';\ndefineSaga({ name: 'a', version: 1, startedBy: 'Go', steps: { ONE: { owner: 42, succeeded: 'Done', failed: 'NotDone' } } });\n`);
    const refused = await run(process.execPath, [TSC, '-p', '.'], { cwd: dir }).then(
      () => 'compiled',
      (err: { stdout: string }) => err.stdout,
    );
    expect(refused).toMatch(/bad\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  });
  it("runs the README's walk-through as written, in an empty folder: a saga of its own completes, and compensates on a failure", async () => {
    // Given the walk-through's shell block and module, taken from the README
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Running your own saga, from an empty folder'));
    const shell = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    const module = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(shell, 'the walk-through has a bash block').toBeDefined();
    expect(module, 'the walk-through has a js block').toBeDefined();
    const walk = join(dir, 'walk-through');
    mkdirSync(walk);
    copyFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!), join(walk, 'sagaline-0.1.0.tgz'));
    // When the shell block runs there, then the module
    await run('bash', ['-euo', 'pipefail', '-c', shell!], { cwd: walk, maxBuffer: 16 << 20 });
    expect(readFileSync(join(walk, 'schemas', 'generated.ts'), 'utf8')).toContain('export interface BookingRequested {');
    writeFileSync(join(walk, 'booking.mjs'), module!);
    const { stdout } = await run(process.execPath, ['booking.mjs'], { cwd: walk, maxBuffer: 16 << 20, timeout: 180_000 });
    // Then it prints what the README says it prints
    const promised = [...module!.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]);
    expect(promised).toHaveLength(2);
    expect(stdout.trim().split('\n')).toEqual(promised);
  }, 300_000);

  it('ships the stack: `npx sagaline stack up` starts a stack of the project\'s own, its state in the project, and `stack down` leaves no process behind', async () => {
    // Given free ports beside the shared stack's, and no state directory named, so the default applies
    chmodSync(dir, 0o755); // the postgres system user must be able to traverse it
    const base = await freePortRange(6);
    const [pg, kafka, controller, connect, registry, management] = [base, base + 1, base + 2, base + 3, base + 4, base + 5];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SAGALINE_PG_PORT: String(pg),
      SAGALINE_KAFKA_PORT: String(kafka),
      SAGALINE_KAFKA_CONTROLLER_PORT: String(controller),
      SAGALINE_CONNECT_PORT: String(connect),
      SAGALINE_REGISTRY_PORT: String(registry),
      SAGALINE_REGISTRY_MANAGEMENT_PORT: String(management),
    };
    for (const name of ['SAGALINE_STATE_DIR', 'KAFKA_BROKERS', 'DATABASE_URL', 'SCHEMA_REGISTRY_URL', 'CONNECT_URL']) delete env[name];
    const stateDir = join(dir, '.sagaline');
    // --no: the installed package or nothing, never one fetched from the registry
    const npx = (...args: string[]) => run('npx', ['--no', 'sagaline', ...args], { cwd: dir, env, maxBuffer: 16 << 20, timeout: 300_000 });
    const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

    // When the installed CLI brings the stack up from the project's folder
    let t0 = Date.now();
    secondStack = { env, stateDir };
    const up = await npx('stack', 'up');
    const upSeconds = seconds(t0);

    // Then its state is in the project, none inside node_modules
    expect(up.stderr).toContain(`state, data and logs in ${stateDir}\n`);
    expect(readdirSync(stateDir).sort()).toEqual(['connect', 'kafka', 'logs', 'postgres', 'registry']);
    expect(existsSync(join(dir, 'node_modules', 'sagaline', '.sagaline'))).toBe(false);

    // And status reports every component healthy, on the ports given
    t0 = Date.now();
    const status = JSON.parse((await npx('stack', 'status', '--json')).stdout) as { components: { name: string; healthy: boolean; url: string; pid?: number }[] };
    const statusSeconds = seconds(t0);
    expect(status.components.map((c) => [c.name, c.healthy, c.url])).toEqual([
      ['postgres', true, `postgres://127.0.0.1:${pg}`],
      ['kafka', true, `127.0.0.1:${kafka}`],
      ['connect', true, `http://127.0.0.1:${connect}`],
      ['registry', true, `http://127.0.0.1:${registry}/apis/ccompat/v7`],
    ]);
    const processes = processTree(status.components.map((c) => c.pid!));
    expect(processes.length).toBeGreaterThan(4);

    // When it is stopped
    t0 = Date.now();
    const down = await npx('stack', 'down');
    const downSeconds = seconds(t0);
    expect(down.stderr).toContain('stopped: connect, registry, kafka, postgres');
    secondStack = undefined;

    // Then none of its processes is left, and its ports are free again
    expect(processes.filter(alive)).toEqual([]);
    expect(processesMentioning(dir)).toEqual([]);
    const ports = [pg, kafka, controller, connect, registry, management];
    expect(await Promise.all(ports.map(listenable))).toEqual(ports.map(() => true));
    process.stderr.write(`[package] second stack from the installed package: up ${upSeconds} s, status ${statusSeconds} s, down ${downSeconds} s\n`);
  }, 300_000);
});
