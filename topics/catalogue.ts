/**
 * The rules every sagaline topic follows: the name an outbox row's aggregatetype routes to, the
 * partitions and retention of event logs, dead-letter and heartbeat topics. Which event logs exist
 * is derived from the project's definitions (topics/derived.ts), never written down; nothing
 * creates a topic otherwise (the broker's auto-creation is off).
 */

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

export function topicForAggregateType(aggregateType: string): string {
  return `${TOPIC_PREFIX}${aggregateType}`;
}

/** Undecodable or unknown messages go here, with the error in their headers; kept forever too: nothing is dropped. */
export function deadLetterTopicFor(topic: string): string {
  return `${topic}.dlq`;
}

/** Where Debezium writes its heartbeat records for a connector (its `topic.heartbeat.prefix` + topic.prefix). */
export function heartbeatTopicFor(connectorName: string): string {
  return `__debezium-heartbeat.${connectorName}`;
}

export function heartbeatTopic(connectorName: string): CatalogueTopic {
  // Heartbeats only move the connector's offsets forward; an hour of them is plenty.
  return { name: heartbeatTopicFor(connectorName), kind: 'heartbeat', partitions: 1, configs: { 'retention.ms': String(3_600_000), 'cleanup.policy': 'delete' }, messages: [] };
}
