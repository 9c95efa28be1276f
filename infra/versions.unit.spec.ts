import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, VERSIONS } from '../core/config.ts';

describe('pinned versions', () => {
  const compose = readFileSync(join(PROJECT_ROOT, 'infra', 'docker-compose.yml'), 'utf8');
  const images = [...compose.matchAll(/image:\s*(\S+)/g)].map((m) => m[1]);

  it('docker-compose uses the versions pinned in infra/versions.json', () => {
    expect(images).toContain(`postgres:${VERSIONS.postgres}`);
    expect(images.filter((i) => i?.startsWith('apache/kafka:'))).toEqual([`apache/kafka:${VERSIONS.kafka}`, `apache/kafka:${VERSIONS.kafka}`]);
    expect(images).toContain(`apicurio/apicurio-registry:${VERSIONS.apicurio}`);
    expect(compose).toContain(`debezium-connector-postgres:${VERSIONS.debezium}:tar.gz:plugin`);
    expect(compose).toContain(`maven-dependency-plugin:${VERSIONS.mavenDependencyPlugin}:copy`);
  });

  it('the Maven pom takes its versions from the stack manager instead of pinning its own', () => {
    const pom = readFileSync(join(PROJECT_ROOT, 'infra', 'maven', 'pom.xml'), 'utf8');
    const literalVersions = [...pom.matchAll(/<version>([^<]+)<\/version>/g)].map((m) => m[1]).filter((v) => v !== '0');
    expect(literalVersions).toEqual(['${kafka.version}', '${kafka.version}', '${kafka.version}', '${slf4j.version}']);
  });
});
