/**
 * The public API's import graph: what a user's service loads when it imports the package must not
 * reach the training example's processors, its saga fold or its 2PC action, nor anything of the
 * tests' own sagas.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every file reached from `entry` through relative imports (type-only imports included: they are still coupling). */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)) visit(resolve(dirname(file), m[1]!));
  };
  visit(entry);
  return new Set([...seen].map((f) => relative(ROOT, f)));
}

const TRAINING_EXAMPLE = [
  /^processors\/(model|resource|training|audit)-service\//,
  /^processors\/training-requests\//,
  /^processors\/saga-state\//,
  /^processors\/saga\/(state|definition|give-up|decision|awaiting)\.ts$/,
  /^coordinator\/update-model\.ts$/,
  /^demo\//,
  /^test\//,
];

describe('the public API', () => {
  it('given the package entry, when its imports are followed, then none reaches the training example or a test saga', () => {
    const files = reachable(join(ROOT, 'index.ts'));
    expect(files.has('processors/engine/run-participant.ts')).toBe(true);
    expect([...files].filter((f) => TRAINING_EXAMPLE.some((p) => p.test(f)))).toEqual([]);
  });
});
