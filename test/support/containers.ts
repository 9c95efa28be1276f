/**
 * The stack's parts in containers, through testcontainers. Ryuk (testcontainers' reaper container)
 * cannot be pulled where no registry is reachable, so it is off: whatever starts a container here
 * stops it itself, in an afterAll or a finally.
 */
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { config } from './fixtures.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

/**
 * Kafka Connect with Debezium in its container, on the host's network (it reaches the test stack's
 * Kafka and Postgres at the addresses the tests use), with a group and internal topics of its own
 * so it never meets the stack's worker. Healthy (its image's health check) before this returns.
 */
export async function startConnectContainer(image: string, options: { name: string; restPort: number }): Promise<{ container: StartedTestContainer; url: string }> {
  const container = await new GenericContainer(image)
    .withNetworkMode('host')
    .withEnvironment({
      BOOTSTRAP_SERVERS: config.kafkaBrokers.join(','),
      GROUP_ID: options.name,
      CONFIG_STORAGE_TOPIC: `_${options.name}-configs`,
      OFFSET_STORAGE_TOPIC: `_${options.name}-offsets`,
      STATUS_STORAGE_TOPIC: `_${options.name}-status`,
      KEY_CONVERTER: 'org.apache.kafka.connect.storage.StringConverter',
      VALUE_CONVERTER: 'org.apache.kafka.connect.json.JsonConverter',
      CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE: 'false',
      OFFSET_FLUSH_INTERVAL_MS: '1000',
      REST_PORT: String(options.restPort),
      ADVERTISED_HOST_NAME: '127.0.0.1',
      HEAP_OPTS: '-Xmx384m',
    })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(240_000)
    .start();
  return { container, url: `http://127.0.0.1:${options.restPort}` };
}
