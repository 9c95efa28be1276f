import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from './codegen.ts';
import { loadContracts, topicValueSchema } from './contracts.ts';

/** A schemas folder with a shared enum, used by one record and only referenced by another. */
function schemasFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'codegen-'));
  mkdirSync(join(dir, 'messages'));
  mkdirSync(join(dir, 'shared'));
  writeFileSync(join(dir, 'shared', 'Tier.avsc'), JSON.stringify({ type: 'enum', name: 'Tier', namespace: 'acme.billing', symbols: ['FREE', 'PAID'] }));
  writeFileSync(join(dir, 'messages', 'PlanChosen.avsc'), JSON.stringify({ type: 'record', name: 'PlanChosen', namespace: 'acme.billing', doc: 'A plan was chosen.', fields: [{ name: 'tier', type: 'Tier' }, { name: 'seats', type: 'int' }] }));
  writeFileSync(join(dir, 'messages', 'PlanRefused.avsc'), JSON.stringify({ type: 'record', name: 'PlanRefused', namespace: 'acme.billing', fields: [{ name: 'tier', type: 'Tier' }, { name: 'reason', type: 'string' }] }));
  return dir;
}

describe('schemas', () => {
  it('given a folder of records, when types are generated, then each record, the shared enum and the union of names are there', () => {
    const text = generate(loadContracts(schemasFolder()), '// header');
    expect(text).toContain("export type Tier = 'FREE' | 'PAID';");
    expect(text).toContain('/** A plan was chosen. */\nexport interface PlanChosen {\n  tier: Tier;\n  seats: number;\n}');
    expect(text).toContain('export type MessageType = keyof MessagePayloads;');
  });

  it('given two records sharing a type, then the topic value schema is a self-contained union defining it once', () => {
    const schema = topicValueSchema(loadContracts(schemasFolder()), ['PlanChosen', 'PlanRefused']) as { name: string; fields: unknown[] }[];
    expect(schema.map((s) => s.name)).toEqual(['acme.billing.PlanChosen', 'acme.billing.PlanRefused']);
    expect(JSON.stringify(schema[0])).toContain('"symbols":["FREE","PAID"]');
    expect(JSON.stringify(schema[1])).toContain('"type":"acme.billing.Tier"');
  });
});
