/**
 * `stack up` refuses, with one clear line and a non-zero exit, before starting anything, when a
 * port is taken or a binary is missing. Each case uses its own empty state directory and ports.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isolatedStackEnv, sagaline } from './support/cli.ts';

describe('stack up preflight', () => {
  let stateDir: string;
  let env: Record<string, string>;
  let squatter: Server | undefined;

  beforeEach(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'sagaline-preflight-'));
    chmodSync(stateDir, 0o755);
    env = await isolatedStackEnv(stateDir);
  });

  afterEach(async () => {
    if (squatter) await new Promise((resolve) => squatter!.close(resolve));
    squatter = undefined;
    rmSync(stateDir, { recursive: true, force: true });
  });

  const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('sagaline: '));

  it('names a port taken by another process, exits non-zero and starts nothing', async () => {
    // Given something else listening on the Kafka port
    const port = Number(env.SAGALINE_KAFKA_PORT);
    squatter = createServer();
    await new Promise<void>((resolve) => squatter!.listen(port, '127.0.0.1', resolve));

    // When the stack is started
    const result = await sagaline(['stack', 'up'], env);

    // Then it fails with one line naming the port and the component, before starting anything
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toEqual([`sagaline: error: port ${port} (kafka) is already in use by another process; stop it or choose another port (see SAGALINE_*_PORT in the README)`]);
    expect(existsSync(join(stateDir, 'postgres'))).toBe(false);
    expect(existsSync(join(stateDir, 'logs')) ? readdirSync(join(stateDir, 'logs')) : []).toEqual([]);
  });

  it('names missing PostgreSQL server binaries', async () => {
    const result = await sagaline(['stack', 'up'], { ...env, SAGALINE_PG_BIN_DIR: join(stateDir, 'no-such-dir') });
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toHaveLength(1);
    expect(errorLines(result.stderr)[0]).toMatch(/^sagaline: error: PostgreSQL server binaries not found: initdb, pg_ctl, postgres missing in .*no-such-dir/);
  });

  it('names a missing java', async () => {
    const result = await sagaline(['stack', 'up'], { ...env, SAGALINE_JAVA: join(stateDir, 'no-java') });
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toEqual([`sagaline: error: java not found (${join(stateDir, 'no-java')}): install a Java 17+ runtime, or set JAVA_HOME or SAGALINE_JAVA`]);
  });

  it('names a missing mvn when artifacts still have to be downloaded', async () => {
    const result = await sagaline(['stack', 'up'], { ...env, SAGALINE_CACHE_DIR: join(stateDir, 'empty-cache'), SAGALINE_MVN: join(stateDir, 'no-mvn') });
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toEqual([
      `sagaline: error: mvn not found (${join(stateDir, 'no-mvn')}): install Apache Maven to fetch the stack's components, or set SAGALINE_MVN`,
    ]);
  });

  it('rejects a half-given external stack naming the missing variables', async () => {
    const result = await sagaline(['stack', 'status'], { ...env, KAFKA_BROKERS: '127.0.0.1:1' });
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toEqual([
      'sagaline: error: an external stack needs all of KAFKA_BROKERS, DATABASE_URL, SCHEMA_REGISTRY_URL, CONNECT_URL; set DATABASE_URL, SCHEMA_REGISTRY_URL, CONNECT_URL too, or unset KAFKA_BROKERS to use the local stack',
    ]);
  });
});
