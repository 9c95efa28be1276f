/**
 * `npm run test:containers`: the stack in containers — infra/docker-compose.yml itself, on the
 * images `npx sagaline images build` makes (built first when missing), brought up through
 * testcontainers' DockerComposeEnvironment on ports of its own — and the delivery, saga and history
 * suites run against it from the host: the same spec files `npm test` runs against the process
 * stack, given the stack's four addresses (and CONNECT_DATABASE_URL: Connect reaches Postgres by its
 * service name). Everything it started is removed at the end, volumes too, whatever the outcome.
 * Extra arguments go to vitest (e.g. one spec file).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { loadConfig, PROJECT_ROOT } from '../core/config.ts';
import { ensureImages, writeComposeEnv } from '../infra/images.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

/** The suites run against the containers. */
export const CONTAINER_SUITES = ['test/delivery.e2e.spec.ts', 'test/defined-saga.e2e.spec.ts', 'test/ml-training.e2e.spec.ts', 'test/history.e2e.spec.ts'];

const PORTS = { SAGALINE_PG_PORT: '23432', SAGALINE_KAFKA_PORT: '23092', SAGALINE_CONNECT_PORT: '23083', SAGALINE_REGISTRY_PORT: '23081' };

const log = (line: string) => process.stderr.write(`[containers] ${line}\n`);

async function main(): Promise<number> {
  const config = loadConfig();
  await ensureImages(config, ['postgres', 'kafka', 'connect', 'registry'], log);
  const envFile = writeComposeEnv(config);
  // Compose v2 (`docker compose`) where it is installed, else the v1 command (`docker-compose`).
  const v2 = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;
  const projectName = `sagaline-containers-${process.pid}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-containers-'));
  log(`compose (${v2 ? 'v2' : 'v1'}): starting infra/docker-compose.yml as ${projectName}…`);
  const t0 = Date.now();
  let started: StartedDockerComposeEnvironment | undefined;
  const down = async () => {
    const s = started;
    started = undefined;
    await s?.down({ removeVolumes: true, timeout: 10_000 });
    rmSync(stateDir, { recursive: true, force: true });
  };
  const onSignal = () => void down().finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    started = await new DockerComposeEnvironment(join(PROJECT_ROOT, 'infra'), 'docker-compose.yml')
      .withProjectName(projectName)
      .withEnvironmentFile(envFile)
      .withEnvironment(PORTS)
      .withClientOptions(v2 ? {} : { executable: { standalone: true } })
      // Every service has a health check (the compose file's): up() returns once all pass, not once ports listen.
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .withStartupTimeout(300_000)
      .up();
    log(`every container healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const env = {
      ...process.env,
      KAFKA_BROKERS: `127.0.0.1:${PORTS.SAGALINE_KAFKA_PORT}`,
      DATABASE_URL: `postgres://sagaline:sagaline@127.0.0.1:${PORTS.SAGALINE_PG_PORT}/sagaline`,
      CONNECT_DATABASE_URL: 'postgres://sagaline:sagaline@postgres:5432/sagaline',
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${PORTS.SAGALINE_REGISTRY_PORT}/apis/ccompat/v7`,
      CONNECT_URL: `http://127.0.0.1:${PORTS.SAGALINE_CONNECT_PORT}`,
      // Resolved in the Connect container from its environment (infra/docker-compose.yml)
      SAGALINE_CONNECT_DB_PASSWORD: '${env:SAGALINE_DB_PASSWORD}',
      SAGALINE_STATE_DIR: stateDir,
      SAGALINE_API_PORT: '23080',
      SAGALINE_METRICS_PORT_BASE: '23100',
    };
    const args = process.argv.slice(2);
    const suites = args.some((a) => a.endsWith('.ts')) ? args : [...CONTAINER_SUITES, ...args];
    const code = await new Promise<number>((resolve) => {
      const child = spawn('npx', ['vitest', 'run', '--project', 'integration', ...suites], { cwd: PROJECT_ROOT, env, stdio: 'inherit' });
      child.on('close', (c) => resolve(c ?? 1));
    });
    return code;
  } finally {
    log('removing the containers and their volumes…');
    await down();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test:containers: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
