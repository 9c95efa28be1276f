/**
 * Containers, short run for every `npm test` (the full harness is `npm run test:containers`):
 * Kafka Connect with Debezium in its container — the image `npx sagaline images build` makes,
 * started through testcontainers — on the host's network beside the test stack, with a group and
 * internal topics of its own. One outbox row committed in Postgres reaches Kafka through it and
 * decodes through the registry. Docker must be running: when it is not, this fails naming why.
 */
import { type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, registryClient } from '../core/clients.ts';
import { ensureImages } from '../infra/images.ts';
import { isPortFree } from '../infra/stack/processes.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { fromUnionValue } from '../schemas/contracts.ts';
import { endOffsets, consumeUntil } from './support/consume.ts';
import { startConnectContainer } from './support/containers.ts';
import { config, createTestDatabase, startDelivery, uniqueName, type Delivery, type TestDatabase } from './support/fixtures.ts';
import { anyMessage, provisionedMessages } from './support/messages.ts';

const messages = await provisionedMessages();

describe('Debezium in its container', () => {
  const workerName = uniqueName('containers-smoke');
  let container: StartedTestContainer | undefined;
  let connectUrl: string;
  let db: TestDatabase;
  let delivery: Delivery | undefined;
  let writer: OutboxWriter;

  beforeAll(async () => {
    // Fails here, with the engine's own words, when Docker is not running or an image cannot be built.
    const tags = await ensureImages(config, ['connect'], (line) => process.stderr.write(`[images] ${line}\n`));
    let port = 22_083; // below the ports npm run test:containers gives the compose stack (23xxx)
    while (!(await isPortFree(port))) port += 2;
    ({ container, url: connectUrl } = await startConnectContainer(tags.connect, { name: workerName, restPort: port }));
    db = await createTestDatabase('containers_smoke');
    delivery = await startDelivery('debezium', db, messages.aggregateTypes, { connectUrl });
    writer = await messages.writer();
  }, 900_000);

  afterAll(async () => {
    await delivery?.stop();
    await db?.drop();
    await container?.stop({ timeout: 10_000 });
    // The container's worker kept its configs, offsets and status in topics of its own.
    const admin = kafkaClient(config, uniqueName('containers-smoke-admin')).admin();
    await admin.connect();
    try {
      const own = (await admin.listTopics()).filter((t) => t.startsWith(`_${workerName}-`));
      if (own.length) await admin.deleteTopics({ topics: own });
    } finally {
      await admin.disconnect();
    }
  }, 180_000);

  it('given an outbox row committed in Postgres, then Connect in its container delivers it to Kafka, decodable through the registry', async () => {
    const type = 'OrderPlaced';
    const topic = messages.topicOf(type).name;
    const message = anyMessage(messages, type, uniqueName('saga'));
    const from = await endOffsets([topic]);
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await writer.publish(client, message);
      await client.query('commit');
    } finally {
      client.release();
    }
    const [received] = (await consumeUntil([topic], `${message.metadata.messageId} on ${topic}`, (all) => all.some((r) => r.headers.id === message.metadata.messageId), { from, timeoutMs: 120_000 }))
      .filter((r) => r.headers.id === message.metadata.messageId);
    expect(received?.key).toBe(message.metadata.sagaId);
    expect(received?.headers.eventType).toBe(type);
    expect(fromUnionValue(await registryClient(config).decode(received!.value!), type)).toEqual(message.payload);
    // And it came through the container's worker, not the stack's
    const status = (await (await fetch(`${connectUrl}/connectors`)).json()) as string[];
    expect(status.length).toBe(1);
  });
});
