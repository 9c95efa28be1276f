import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { loadProject, sagaNamed } from './project.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'order-saga', 'sagaline.config.ts');

describe('a config module of sagas', () => {
  it('given the test saga’s module, then its sagas, participants and schemas folder (from the module’s folder) are loaded', async () => {
    const config = await loadProject(FIXTURE);
    expect(config.sagas.map((s) => s.name)).toEqual(['order-fulfilment']);
    expect(config.participants.map((p) => p.service)).toEqual(['payments', 'warehouse', 'shipping']);
    expect(config.schemas).toBe(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'order-saga', 'schemas'));
    expect(() => sagaNamed(config, 'order-payment')).toThrow(/defines no saga "order-payment" \(it defines order-fulfilment\)/);
  });

  it('given a module of the wrong shape, then one ConfigError names the file and each field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'saga-config-'));
    const file = join(dir, 'bad.mjs');
    writeFileSync(file, "export default { schemas: 42, sagas: [], participants: ['x'] };\n");
    const loading = loadProject(file);
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loadProject(file)).rejects.toThrow(new RegExp(`^${file}:\\n  - schemas: .*\\n  - sagas: a non-empty list .*\\n  - participants: a list of what participant\\(\\) returned$`));
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, 'export default {;\n');
    await expect(loadProject(broken)).rejects.toThrow(/broken\.mjs could not be loaded/);
    await expect(loadProject(join(dir, 'none.mjs'))).rejects.toThrow(/^no config module at .*none\.mjs$/);
  });
});
