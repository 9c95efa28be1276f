/**
 * A second, independent stack (own state directory, own ports) taken through the lifecycle a
 * user sees: up → status --json → down → up again with the data kept → down.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, pgPool, registryClient } from '../core/clients.ts';
import { ENGINE_DATABASE, loadConfig, type Config } from '../core/config.ts';
import { isolatedStackEnv, sagaline } from './support/cli.ts';

/** Every live process whose command line mentions `needle` (independent of the stack's own bookkeeping). */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle)) found.push(`${entry}: ${cmd.slice(0, 120)}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

describe('stack lifecycle through the CLI', () => {
  let stateDir: string;
  let env: Record<string, string>;
  let config: Config;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'sagaline-lifecycle-'));
    chmodSync(stateDir, 0o755); // the postgres system user must be able to traverse it
    env = await isolatedStackEnv(stateDir);
    config = loadConfig({ ...process.env, KAFKA_BROKERS: '', DATABASE_URL: '', SCHEMA_REGISTRY_URL: '', CONNECT_URL: '', ...env });
  });

  afterAll(async () => {
    await sagaline(['stack', 'down'], env);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('comes up healthy, stops completely, and comes back with its data', async () => {
    // When the stack is brought up
    const up = await sagaline(['stack', 'up'], env);
    expect(up.code, up.stderr).toBe(0);

    // Then status --json reports every component healthy
    const status = await sagaline(['stack', 'status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const components = (JSON.parse(status.stdout) as { components: { name: string; healthy: boolean; url: string }[] }).components;
    expect(components.map((c) => [c.name, c.healthy])).toEqual([
      ['postgres', true],
      ['kafka', true],
      ['connect', true],
      ['registry', true],
    ]);
    expect(components.every((c) => typeof c.url === 'string' && c.url.length > 0)).toBe(true);

    // And a second up reports the running stack without starting anything
    const again = await sagaline(['stack', 'up'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('stack already running');

    // Given data in each stateful component
    const pool = pgPool(config, ENGINE_DATABASE, 1);
    await pool.query('create table kept (note text)');
    await pool.query("insert into kept values ('survives a restart')");
    await pool.end();
    const schema = { type: 'record', name: 'Kept', namespace: 'dev.sagaline.test', fields: [{ name: 'note', type: 'string' }] };
    const { id: schemaId } = await registryClient(config).register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: 'kept-value' });
    const admin = kafkaClient(config, 'lifecycle').admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kept', numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();

    // When the stack is stopped
    const down = await sagaline(['stack', 'down'], env);
    expect(down.code, down.stderr).toBe(0);

    // Then none of its processes is left
    expect(processesMentioning(stateDir)).toEqual([]);
    const stopped = JSON.parse((await sagaline(['stack', 'status', '--json'], env)).stdout) as { components: { healthy: boolean }[] };
    expect(stopped.components.every((c) => !c.healthy)).toBe(true);

    // When it is brought up again
    const up2 = await sagaline(['stack', 'up'], env);
    expect(up2.code, up2.stderr).toBe(0);

    // Then the table row, the schema id and the topic are still there
    const pool2 = pgPool(config, ENGINE_DATABASE, 1);
    expect((await pool2.query('select note from kept')).rows).toEqual([{ note: 'survives a restart' }]);
    await pool2.end();
    expect(await registryClient(config).getLatestSchemaId('kept-value')).toBe(schemaId);
    const admin2 = kafkaClient(config, 'lifecycle').admin();
    await admin2.connect();
    expect(await admin2.listTopics()).toContain('kept');
    await admin2.disconnect();
  });
});
