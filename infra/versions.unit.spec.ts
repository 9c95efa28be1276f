import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, VERSIONS } from '../core/config.ts';
import { composeEnv } from './images.ts';

describe('pinned versions', () => {
  const compose = readFileSync(join(PROJECT_ROOT, 'infra', 'docker-compose.yml'), 'utf8');
  const images = [...compose.matchAll(/image:\s*\$\{(\w+):-(\S+)\}/g)].map((m) => ({ variable: m[1], official: m[2] }));

  it('docker-compose defaults to the official images of the versions pinned in infra/versions.json', () => {
    expect(images).toEqual([
      { variable: 'SAGALINE_POSTGRES_IMAGE', official: `postgres:${VERSIONS.postgres}` },
      { variable: 'SAGALINE_KAFKA_IMAGE', official: `apache/kafka:${VERSIONS.kafka}` },
      { variable: 'SAGALINE_CONNECT_IMAGE', official: `quay.io/debezium/connect:${VERSIONS.debezium}` },
      { variable: 'SAGALINE_REGISTRY_IMAGE', official: `apicurio/apicurio-registry:${VERSIONS.apicurio}` },
    ]);
  });

  it('the images built here stand in for those same variables, tagged with the same versions', () => {
    const env = composeEnv(VERSIONS);
    for (const { variable } of images) expect(env).toMatch(new RegExp(`^${variable}=sagaline/`, 'm'));
    expect(env).toContain(`SAGALINE_CONNECT_IMAGE=sagaline/connect:${VERSIONS.debezium}`);
    expect(env).toContain(`SAGALINE_KAFKA_IMAGE=sagaline/kafka:${VERSIONS.kafka}`);
  });

  it('the Maven pom takes its versions from the stack manager instead of pinning its own', () => {
    const pom = readFileSync(join(PROJECT_ROOT, 'infra', 'maven', 'pom.xml'), 'utf8');
    const literalVersions = [...pom.matchAll(/<version>([^<]+)<\/version>/g)].map((m) => m[1]).filter((v) => v !== '0');
    expect(literalVersions).toEqual(['${kafka.version}', '${kafka.version}', '${kafka.version}', '${slf4j.version}']);
  });
});
