/**
 * Fetches the JVM components from Maven Central with Maven, once, into a cache outside the
 * repository. Each artifact is unpacked into a temporary folder and renamed into place, so an
 * interrupted download never leaves a half-filled folder that looks complete.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, type LocalStackConfig, type Versions } from '../../core/config.ts';
import { StackError } from '../../core/errors.ts';
import { run } from './processes.ts';

export interface Artifacts {
  /** Broker + Connect worker classpath (all jars in one folder). */
  kafkaLibs: string;
  /** Connect `plugin.path`: holds the unpacked Debezium PostgreSQL connector. */
  connectPluginPath: string;
  /** Unpacked Apicurio Registry (Quarkus fast-jar: quarkus-run.jar). */
  registryHome: string;
}

export type Progress = (line: string) => void;

export function artifactPaths(stack: LocalStackConfig, versions: Versions): Artifacts {
  return {
    kafkaLibs: join(stack.cacheDir, `kafka-${versions.kafka}`, 'libs'),
    connectPluginPath: join(stack.cacheDir, `debezium-postgres-${versions.debezium}`),
    registryHome: join(stack.cacheDir, `apicurio-registry-${versions.apicurio}`),
  };
}

async function maven(stack: LocalStackConfig, what: string, args: string[], cwd: string, progress: Progress): Promise<void> {
  let downloaded = 0;
  let lastReport = Date.now();
  const errors: string[] = [];
  const result = await run(stack.mvnBin, ['-B', ...args], {
    cwd,
    onLine: (line) => {
      if (/Downloaded from /.test(line)) {
        downloaded += 1;
        if (Date.now() - lastReport > 2_000) {
          lastReport = Date.now();
          progress(`${what}: ${downloaded} files downloaded…`);
        }
      } else if (line.startsWith('[ERROR]') && line.length > 8) {
        errors.push(line.slice(8));
      }
    },
  }).catch((err: unknown) => {
    throw new StackError('MISSING_BINARY', `cannot run Maven (${stack.mvnBin}): ${(err as Error).message}; install Maven or set SAGALINE_MVN`);
  });
  if (result.code !== 0) {
    const reason = errors.find((e) => /Could not|Failed|Unable|resolve/i.test(e)) ?? errors[0] ?? `mvn exited with ${result.code}`;
    throw new StackError('DOWNLOAD_FAILED', `download of ${what} failed: ${reason}`);
  }
  if (downloaded > 0) progress(`${what}: ${downloaded} files downloaded`);
}

async function fetchInto(dest: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  if (existsSync(dest)) return;
  const tmp = `${dest}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function untar(archiveDir: string, into: string, what: string): Promise<void> {
  const archive = readdirSync(archiveDir).find((f) => f.endsWith('.tar.gz'));
  if (!archive) throw new StackError('DOWNLOAD_FAILED', `download of ${what} produced no .tar.gz archive`);
  mkdirSync(into, { recursive: true });
  const result = await run('tar', ['-xzf', join(archiveDir, archive), '-C', into]);
  if (result.code !== 0) throw new StackError('DOWNLOAD_FAILED', `unpacking ${what} failed: ${result.stderr.trim()}`);
}

export async function ensureArtifacts(stack: LocalStackConfig, versions: Versions, progress: Progress): Promise<Artifacts> {
  const paths = artifactPaths(stack, versions);
  const plugin = `org.apache.maven.plugins:maven-dependency-plugin:${versions.mavenDependencyPlugin}`;
  mkdirSync(stack.cacheDir, { recursive: true });

  if (!existsSync(paths.kafkaLibs)) progress(`fetching Kafka ${versions.kafka} (broker + Connect) with Maven…`);
  await fetchInto(join(stack.cacheDir, `kafka-${versions.kafka}`), async (tmp) => {
    await maven(
      stack,
      `Kafka ${versions.kafka}`,
      [
        '-f', join(PROJECT_ROOT, 'infra', 'maven', 'pom.xml'),
        `-Dkafka.version=${versions.kafka}`,
        `-Dslf4j.version=${versions.slf4jReload4j}`,
        `${plugin}:copy-dependencies`,
        '-DincludeScope=runtime',
        `-DoutputDirectory=${join(tmp, 'libs')}`,
      ],
      tmp,
      progress,
    );
  });

  if (!existsSync(paths.connectPluginPath)) progress(`fetching Debezium PostgreSQL connector ${versions.debezium} with Maven…`);
  await fetchInto(paths.connectPluginPath, async (tmp) => {
    const what = `Debezium PostgreSQL connector ${versions.debezium}`;
    const download = join(tmp, '.download');
    await maven(
      stack,
      what,
      [`${plugin}:copy`, `-Dartifact=io.debezium:debezium-connector-postgres:${versions.debezium}:tar.gz:plugin`, `-DoutputDirectory=${download}`],
      tmp,
      progress,
    );
    await untar(download, tmp, what);
    rmSync(download, { recursive: true, force: true });
  });

  if (!existsSync(paths.registryHome)) progress(`fetching Apicurio Registry ${versions.apicurio} (about 160 MB) with Maven…`);
  await fetchInto(paths.registryHome, async (tmp) => {
    const what = `Apicurio Registry ${versions.apicurio}`;
    const download = join(tmp, '.download');
    await maven(
      stack,
      what,
      [`${plugin}:copy`, `-Dartifact=io.apicurio:apicurio-registry-app:${versions.apicurio}:tar.gz:all`, `-DoutputDirectory=${download}`],
      tmp,
      progress,
    );
    await untar(download, tmp, what);
    rmSync(download, { recursive: true, force: true });
  });

  return paths;
}
