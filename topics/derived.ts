/**
 * Topics derived from saga definitions instead of written down: each saga has one event log,
 * `sagaline.<saga name>`, carrying its start message, every step's messages and the engine's own
 * messages about it, so all messages of one instance share one partition (key = saga id) and every
 * participant reads them in the same order. Beside it, its dead-letter topic.
 */
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import type { TopicMessages } from '../processors/runtime/decode.ts';
import { ENGINE_MESSAGE_TYPES } from '../schemas/saga-contracts.ts';
import { deadLetterTopicFor, EVENT_LOG_PARTITIONS, RETAIN_FOREVER, topicForAggregateType, type CatalogueTopic } from './catalogue.ts';

/** The outbox aggregatetype of a saga's messages: its name (so Debezium routes them to `sagaline.<name>`). */
export const aggregateTypeOf = (saga: Pick<SagaDefinition, 'name'>): string => saga.name;

/** Every message on a saga's topic: the start, each step's, the engine's — over every version given. */
export function messagesOfSaga(saga: SagaDefinition | readonly SagaDefinition[]): string[] {
  const versions = Array.isArray(saga) ? saga : [saga as SagaDefinition];
  return [...new Set([...versions.flatMap((v) => [...v.messages.keys(), ...(v.stepMessages ? [v.stepMessages.succeeded, v.stepMessages.failed, v.stepMessages.compensated] : [])]), ...ENGINE_MESSAGE_TYPES])];
}

/** The versions given, by saga name, in the order the names first appear. */
export function byName(sagas: readonly SagaDefinition[]): Map<string, SagaDefinition[]> {
  const groups = new Map<string, SagaDefinition[]>();
  for (const s of sagas) groups.set(s.name, [...(groups.get(s.name) ?? []), s]);
  return groups;
}

/** A saga's event log; given several versions of it, the topic carries the messages of all. */
export function sagaTopic(saga: SagaDefinition | readonly SagaDefinition[]): CatalogueTopic {
  const versions = Array.isArray(saga) ? saga : [saga as SagaDefinition];
  const first = versions[0] as SagaDefinition;
  return {
    name: topicForAggregateType(aggregateTypeOf(first)),
    kind: 'event-log',
    partitions: EVENT_LOG_PARTITIONS,
    configs: { ...RETAIN_FOREVER },
    messages: messagesOfSaga(versions),
    aggregateType: aggregateTypeOf(first),
  };
}

/** Each saga's event log and its dead-letter topic (one per name, whatever the versions). */
export function sagaTopics(sagas: readonly SagaDefinition[]): CatalogueTopic[] {
  return [...byName(sagas).values()].flatMap((versions) => {
    const log = sagaTopic(versions);
    return [log, { name: deadLetterTopicFor(log.name), kind: 'dead-letter' as const, partitions: 1, configs: { ...RETAIN_FOREVER }, messages: [] }];
  });
}

/** What the decoding consumer accepts on the sagas' topics. */
export function sagaTopicMessages(sagas: readonly SagaDefinition[]): TopicMessages {
  const byTopic = new Map([...byName(sagas).values()].map((versions) => [sagaTopic(versions).name, messagesOfSaga(versions)]));
  const known = new Set([...byTopic.values()].flat());
  return { known: (type) => known.has(type), messagesOf: (topic) => byTopic.get(topic) };
}

/** A stream's event log: `sagaline.<name>`, carrying the messages listed for it. */
export function streamTopic(name: string, messages: readonly string[]): CatalogueTopic {
  return { name: topicForAggregateType(name), kind: 'event-log', partitions: EVENT_LOG_PARTITIONS, configs: { ...RETAIN_FOREVER }, messages: [...messages], aggregateType: name };
}

export function streamTopics(streams: Readonly<Record<string, readonly string[]>>): CatalogueTopic[] {
  return Object.entries(streams).map(([name, messages]) => streamTopic(name, messages));
}
