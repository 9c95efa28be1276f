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

/** Every message on a saga's topic: the start, each step's, the engine's. */
export function messagesOfSaga(saga: SagaDefinition): string[] {
  return [...saga.messages.keys(), ...ENGINE_MESSAGE_TYPES];
}

export function sagaTopic(saga: SagaDefinition): CatalogueTopic {
  return {
    name: topicForAggregateType(aggregateTypeOf(saga)),
    kind: 'event-log',
    partitions: EVENT_LOG_PARTITIONS,
    configs: { ...RETAIN_FOREVER },
    messages: messagesOfSaga(saga),
    aggregateType: aggregateTypeOf(saga),
  };
}

/** A saga's event log and its dead-letter topic. */
export function sagaTopics(sagas: readonly SagaDefinition[]): CatalogueTopic[] {
  return sagas.flatMap((saga) => {
    const log = sagaTopic(saga);
    return [log, { name: deadLetterTopicFor(log.name), kind: 'dead-letter' as const, partitions: 1, configs: { ...RETAIN_FOREVER }, messages: [] }];
  });
}

/** What the decoding consumer accepts on the sagas' topics. */
export function sagaTopicMessages(sagas: readonly SagaDefinition[]): TopicMessages {
  const byTopic = new Map(sagas.map((s) => [sagaTopic(s).name, messagesOfSaga(s)]));
  const known = new Set([...byTopic.values()].flat());
  return { known: (type) => known.has(type), messagesOf: (topic) => byTopic.get(topic) };
}
