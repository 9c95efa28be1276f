/**
 * Messages for delivery tests, on topics derived from saga definitions: the sagas of the projects
 * given (by default the order fixture and the training example — two event logs with schemas of
 * their own) are provisioned as a user would, and valid messages of each of their types are made
 * from the schemas themselves (avsc's random values), reproducibly.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { newTraceparent } from '../../core/ids.ts';
import { provisionSagas } from '../../infra/provision-sagas.ts';
import { OutboxWriter, type OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { TopicMessages } from '../../processors/runtime/decode.ts';
import type { SagaDefinition } from '../../processors/saga/define-saga.ts';
import { messageRecord, type Contracts } from '../../schemas/contracts.ts';
import { sagaContracts } from '../../schemas/saga-contracts.ts';
import type { CatalogueTopic } from '../../topics/catalogue.ts';
import { byName, sagaTopic, sagaTopicMessages } from '../../topics/derived.ts';
import { config } from './fixtures.ts';
import { testProject, TRAINING_CONFIG } from './saga.ts';

export const ORDER_CONFIG = fileURLToPath(new URL('../fixtures/order-saga/sagaline.config.ts', import.meta.url));

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The event logs of some projects' sagas, as provisioned, and what tests need to write and read them. */
export interface TestMessages {
  /** Every project's schemas with the engine's. */
  contracts: Contracts;
  /** One event log per saga name. */
  topics: CatalogueTopic[];
  /** Every message type of the sagas' own (the engine's, carried by every saga topic, left out): each on exactly one topic. */
  types: string[];
  /** The outbox aggregate types of the topics: what a test database's outbox must admit to write any of `types`. */
  aggregateTypes: string[];
  /** What the decoding consumer accepts on these topics. */
  catalogue: TopicMessages;
  topicOf(type: string): CatalogueTopic;
  /** A writer that routes each of `types` to its topic (schema ids resolved from the registry). */
  writer(): Promise<OutboxWriter>;
}

/** Provisions each project's sagas (idempotent) and describes their event logs. */
export async function provisionedMessages(files: readonly string[] = [ORDER_CONFIG, TRAINING_CONFIG]): Promise<TestMessages> {
  const sagas: SagaDefinition[] = [];
  let contracts: Contracts = { registry: {}, messages: new Map(), sources: new Map() };
  for (const file of files) {
    const project = await testProject(file);
    await provisionSagas(config, { sagas: project.sagas, participants: project.participants, schemas: project.schemas, streams: project.streams });
    const own = sagaContracts(project.schemas, project.sagas);
    contracts = {
      registry: { ...contracts.registry, ...own.registry },
      messages: new Map([...contracts.messages, ...own.messages]),
      sources: new Map([...contracts.sources, ...own.sources]),
    };
    sagas.push(...project.sagas);
  }
  const groups = [...byName(sagas).values()];
  const topics = groups.map((versions) => sagaTopic(versions));
  const topicByType = new Map<string, CatalogueTopic>();
  groups.forEach((versions, i) => {
    for (const v of versions) for (const type of v.messages.keys()) topicByType.set(type, topics[i] as CatalogueTopic);
  });
  return {
    contracts,
    topics,
    types: [...topicByType.keys()],
    aggregateTypes: topics.map((t) => t.aggregateType as string),
    catalogue: sagaTopicMessages(sagas),
    topicOf(type) {
      const topic = topicByType.get(type);
      if (!topic) throw new Error(`no saga of ${files.join(', ')} has message ${type}`);
      return topic;
    },
    writer: () => OutboxWriter.create(config.schemaRegistryUrl, contracts, { topics }),
  };
}

/** A valid message of `type` for saga `sagaId`, its payload random but schema-valid (a `sagaId` field carries the saga's id). */
export function anyMessage(messages: TestMessages, type: string, sagaId: string, tenantId = 'tenant-test'): OutgoingMessage {
  const record = messageRecord(messages.contracts, type);
  const payload = record.random() as unknown as Record<string, unknown>;
  if (record.fields.some((f) => f.name === 'sagaId')) payload.sagaId = sagaId;
  return {
    type,
    payload,
    metadata: { messageId: randomUUID(), sagaId, tenantId, correlationId: sagaId, causationId: randomUUID(), traceparent: newTraceparent() },
  };
}

/** The types in turn: index i, i+1, … cycle through every type of every topic. */
export function messageTypeAt(messages: TestMessages, index: number): string {
  return messages.types[index % messages.types.length] as string;
}
