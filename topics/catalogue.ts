/**
 * The topic catalogue: every topic sagaline uses, with its partitions, retention and the messages
 * it carries. Nothing creates a topic that is not here (the broker's auto-creation is off, and
 * provisioning refuses a connector that could route elsewhere).
 */
import type { MessageType } from '../schemas/generated.ts';

/** Outbox rows are routed to `sagaline.<aggregatetype>`; the Debezium connectors use the same rule. */
export const TOPIC_PREFIX = 'sagaline.';
export const ROUTE_TOPIC_REPLACEMENT = `${TOPIC_PREFIX}\${routedByValue}`;

/** Kafka keeps these forever: the event log is the audit record. */
export const RETAIN_FOREVER = { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' } as const;

export type TopicKind = 'event-log' | 'dead-letter' | 'heartbeat';

export interface CatalogueTopic {
  name: string;
  kind: TopicKind;
  partitions: number;
  configs: Record<string, string>;
  /** Message types on the topic (event logs only): its value schema is their union. */
  messages: readonly string[];
  /** The outbox aggregatetype that routes here (event logs only). */
  aggregateType?: string;
}

/** Partitions per event log: a saga's messages share one (key = saga id), so this bounds parallelism per topic. */
export const EVENT_LOG_PARTITIONS = 6;

const eventLogs: { aggregateType: string; messages: readonly MessageType[] }[] = [
  { aggregateType: 'training-requests', messages: ['TrainingRequested'] },
  {
    aggregateType: 'model-events',
    messages: ['ModelReserved', 'ModelReservationFailed', 'ModelReservationReleased', 'ModelUpdated', 'ModelUpdateFailed', 'ModelUpdateReverted', 'ModelVersionChanged'],
  },
  { aggregateType: 'resource-events', messages: ['ResourcesAllocated', 'ResourceAllocationFailed', 'ResourcesReleased'] },
  { aggregateType: 'training-events', messages: ['TrainingStarted', 'TrainingCompleted', 'TrainingFailed', 'TrainingCancelled'] },
  { aggregateType: 'audit-events', messages: ['AuditLogged', 'AuditFailed', 'ModelVersionAudited'] },
  // Written by the saga watchdog (deadlines, completion) and by any participant whose compensation gave up.
  { aggregateType: 'saga-events', messages: ['StepTimedOut', 'SagaCompleted', 'CompensationFailed'] },
];

export function topicForAggregateType(aggregateType: string): string {
  return `${TOPIC_PREFIX}${aggregateType}`;
}

export function deadLetterTopicFor(topic: string): string {
  return `${topic}.dlq`;
}

/** Where Debezium writes its heartbeat records for a connector (its `topic.heartbeat.prefix` + topic.prefix). */
export function heartbeatTopicFor(connectorName: string): string {
  return `__debezium-heartbeat.${connectorName}`;
}

export const EVENT_LOG_TOPICS: readonly CatalogueTopic[] = eventLogs.map((t) => ({
  name: topicForAggregateType(t.aggregateType),
  kind: 'event-log',
  partitions: EVENT_LOG_PARTITIONS,
  configs: { ...RETAIN_FOREVER },
  messages: t.messages,
  aggregateType: t.aggregateType,
}));

/** Undecodable or unknown messages, with the error in their headers; kept forever too: nothing is dropped. */
export const DEAD_LETTER_TOPICS: readonly CatalogueTopic[] = EVENT_LOG_TOPICS.map((t) => ({
  name: deadLetterTopicFor(t.name),
  kind: 'dead-letter',
  partitions: 1,
  configs: { ...RETAIN_FOREVER },
  messages: [],
}));

export function heartbeatTopic(connectorName: string): CatalogueTopic {
  // Heartbeats only move the connector's offsets forward; an hour of them is plenty.
  return { name: heartbeatTopicFor(connectorName), kind: 'heartbeat', partitions: 1, configs: { 'retention.ms': String(3_600_000), 'cleanup.policy': 'delete' }, messages: [] };
}

/** The whole catalogue for a set of connectors. */
export function catalogue(connectorNames: readonly string[]): CatalogueTopic[] {
  return [...EVENT_LOG_TOPICS, ...DEAD_LETTER_TOPICS, ...connectorNames.map(heartbeatTopic)];
}

export function topicOfMessage(type: MessageType): CatalogueTopic {
  const topic = EVENT_LOG_TOPICS.find((t) => t.messages.includes(type));
  if (!topic) throw new Error(`message type ${type} is on no topic of the catalogue`);
  return topic;
}

export function eventLogByName(name: string): CatalogueTopic | undefined {
  return EVENT_LOG_TOPICS.find((t) => t.name === name);
}
