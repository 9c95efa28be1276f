import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, generate } from './codegen.ts';
import { loadContracts, topicValueSchema } from './contracts.ts';

describe('schemas', () => {
  it('generated.ts is what the .avsc files produce (run `npm run schemas:generate` after editing a schema)', () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(generate());
  });

  it('a topic value schema is a self-contained union of its records', () => {
    const schema = topicValueSchema(loadContracts(), ['TrainingRequested', 'StepTimedOut']) as { name: string; fields: unknown[] }[];
    expect(schema.map((s) => s.name)).toEqual(['dev.sagaline.training.TrainingRequested', 'dev.sagaline.training.StepTimedOut']);
    // The Step enum is defined inside TrainingRequested (via Simulation) and only referenced by StepTimedOut.
    expect(JSON.stringify(schema[1])).toContain('"type":"dev.sagaline.training.Step"');
  });
});
