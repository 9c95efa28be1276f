/**
 * The package as another project gets it: `npm pack`, installed into an empty folder outside the
 * repository, imported under plain Node (no tsx), its declarations checked by TypeScript.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';

const run = promisify(execFile);
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

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

  beforeAll(async () => {
    // Given the tarball npm pack makes, installed into an empty project
    dir = mkdtempSync(join(tmpdir(), 'sagaline-consumer-'));
    await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: PROJECT_ROOT, maxBuffer: 16 << 20 });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball, 'npm pack wrote a tarball').toBeDefined();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', `./${tarball}`, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--silent'], { cwd: dir, maxBuffer: 16 << 20 });
  }, 300_000);

  afterAll(() => {
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
});
