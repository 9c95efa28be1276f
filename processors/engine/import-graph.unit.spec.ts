/**
 * Where the engine ends: nothing outside examples/ and test/ imports either of them, the examples
 * reach the engine only through the package's entry points, and no example's message, step or
 * service name appears in the engine's source.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// Not the engine: dependencies, build output, the examples, tests and benchmark, and hidden folders (state, tooling).
const SKIP = new Set(['node_modules', 'dist', 'bench', 'examples', 'test']);

function files(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return (SKIP.has(name) || name.startsWith('.')) && dir === ROOT ? [] : files(path, keep);
    return keep(path) ? [path] : [];
  });
}

const imports = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)].map((m) => relative(ROOT, resolve(dirname(file), (m[1] ?? m[2])!)));

const engineFiles = files(ROOT, (p) => p.endsWith('.ts') && !p.endsWith('import-graph.unit.spec.ts'));

/** Every message, step and service of the examples, from their own schemas and definitions. */
function exampleNames(): string[] {
  const names = new Set<string>();
  for (const example of readdirSync(join(ROOT, 'examples')).filter((n) => statSync(join(ROOT, 'examples', n)).isDirectory())) {
    const messages = join(ROOT, 'examples', example, 'schemas', 'messages');
    for (const f of readdirSync(messages)) names.add(f.replace(/\.avsc$/, ''));
    const saga = readFileSync(join(ROOT, 'examples', example, 'saga.ts'), 'utf8');
    for (const m of saga.matchAll(/^\s+([A-Z][A-Z_]+): \{ owner: '([a-z-]+)'/gm)) {
      names.add(m[1]!);
      names.add(m[2]!);
    }
  }
  // Words the examples share with everyone's vocabulary (and SQL's) are not names of an example.
  for (const generic of ['AUDIT', 'VALIDATE', 'UPDATE']) names.delete(generic);
  return [...names];
}

describe('the engine and the examples', () => {
  it('given the engine’s source, then no file imports examples/ or test/', () => {
    const offending = engineFiles.flatMap((f) => imports(f).filter((i) => /^(examples|test)\//.test(i)).map((i) => `${relative(ROOT, f)} → ${i}`));
    expect(offending).toEqual([]);
  });

  it('given each example, then it imports the engine only through the package’s entry points', () => {
    const exampleFiles = files(join(ROOT, 'examples'), (p) => p.endsWith('.ts') && !p.endsWith('.spec.ts'));
    expect(exampleFiles.length).toBeGreaterThan(5);
    const entries = new Set(['index.ts', 'dev.ts', 'processors/saga/testing.ts']);
    const offending = exampleFiles.flatMap((f) => imports(f).filter((i) => !i.startsWith('examples/') && !entries.has(i)).map((i) => `${relative(ROOT, f)} → ${i}`));
    expect(offending).toEqual([]);
  });

  it('given the examples’ messages, steps and services, then none is named in the engine’s source', () => {
    const names = exampleNames();
    expect(names).toEqual(expect.arrayContaining(['TrainingRequested', 'RESERVE', 'model-service']));
    const offending = engineFiles.flatMap((f) => {
      const source = readFileSync(f, 'utf8');
      return names.filter((n) => new RegExp(`(?<![A-Za-z0-9_-])${n}(?![A-Za-z0-9_-])`).test(source)).map((n) => `${relative(ROOT, f)}: ${n}`);
    });
    expect(offending).toEqual([]);
  });
});
