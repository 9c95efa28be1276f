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
  it("runs the README's walk-through as written, in an empty folder, on a stack it starts there: a saga of its own completes, compensates, times out a step, and its history is audited, rebuilt and exported", async () => {
    // Given the walk-through's shell blocks and config module, taken from the README
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Running your own saga, from an empty folder'), readme.indexOf('**Versions**'));
    const shells = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const module = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(shells, 'the walk-through has two bash blocks').toHaveLength(2);
    expect(module, 'the walk-through has a js block').toBeDefined();
    const walk = join(dir, 'walk-through');
    mkdirSync(walk);
    chmodSync(dir, 0o755); // the postgres system user must be able to traverse it
    chmodSync(walk, 0o755);
    copyFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!), join(walk, 'sagaline-0.1.0.tgz'));
    // Ports beside the shared stack's (as the README says for a second stack), no state directory named
    const base = await freePortRange(14);
    const ports = [base, base + 1, base + 2, base + 3, base + 4, base + 5];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SAGALINE_PG_PORT: String(ports[0]),
      SAGALINE_KAFKA_PORT: String(ports[1]),
      SAGALINE_KAFKA_CONTROLLER_PORT: String(ports[2]),
      SAGALINE_CONNECT_PORT: String(ports[3]),
      SAGALINE_REGISTRY_PORT: String(ports[4]),
      SAGALINE_REGISTRY_MANAGEMENT_PORT: String(ports[5]),
      SAGALINE_API_PORT: String(base + 6),
      SAGALINE_METRICS_PORT_BASE: String(base + 7),
    };
    for (const name of ['SAGALINE_STATE_DIR', 'KAFKA_BROKERS', 'DATABASE_URL', 'SCHEMA_REGISTRY_URL', 'CONNECT_URL', 'LOG_LEVEL']) delete env[name];
    const stateDir = join(walk, '.sagaline');
    secondStack = { env, stateDir };
    const bash = (script: string) => run('bash', ['-euo', 'pipefail', '-c', script], { cwd: walk, env, maxBuffer: 64 << 20, timeout: 600_000 });

    // When the first block runs there (install, stack up, schemas, codegen)
    const first = await bash(shells[0]!);
    // Then the stack's state is in the project, none inside node_modules, and the types are written
    expect(first.stderr).toContain(`state, data and logs in ${stateDir}\n`);
    expect(existsSync(join(walk, 'node_modules', 'sagaline', '.sagaline'))).toBe(false);
    expect(readFileSync(join(walk, 'schemas', 'generated.ts'), 'utf8')).toContain('export interface BookingRequested {');

    // When the config module is written and the second block runs (provision, run, start, read, history, down)
    writeFileSync(join(walk, 'sagaline.config.mjs'), module!);
    const stackPids = (JSON.parse((await run(process.execPath, [join(walk, 'node_modules', 'sagaline', 'bin', 'sagaline.js'), 'stack', 'status', '--json'], { cwd: walk, env })).stdout) as { components: { pid?: number }[] }).components.map((c) => c.pid!);
    const processes = processTree(stackPids);
    const second = await bash(shells[1]!);
    secondStack = undefined;

    // Then it prints what the README says it prints
    const promised = [...shells[1]!.matchAll(/# → (.*)$/gm)].map((m) => m[1]!);
    expect(promised).toHaveLength(3);
    for (const line of promised) expect(second.stdout).toContain(line);
    // the audit of b-2 reads its messages from the log, in causal order, to its compensation
    expect(second.stdout).toMatch(/BookingRequested[\s\S]*RoomHeld[\s\S]*ChargeFailed[\s\S]*RoomReleased/);
    // the rebuild from the log equals the live projection; the export verifies
    expect(second.stdout).toContain('no difference');
    expect(second.stdout).toMatch(/ok: \d+ messages, chain intact/);
    expect(readFileSync(join(walk, 'bookings.ndjson'), 'utf8').split('\n').filter(Boolean).length).toBeGreaterThan(12);
    // And `stack down` left none of its processes, and its ports are free again
    expect(second.stderr).toContain('stopped: connect, registry, kafka, postgres');
    expect(processes.length).toBeGreaterThan(4);
    expect(processes.filter(alive)).toEqual([]);
    expect(processesMentioning(walk)).toEqual([]);
    expect(await Promise.all(ports.map(listenable))).toEqual(ports.map(() => true));
  }, 900_000);
});
