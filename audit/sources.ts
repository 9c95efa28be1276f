/** What history commands read for a project: its sagas' topics (and its streams'), and how to decode them. */
import type { Project } from '../processors/engine/project.ts';
import { versionsOf, type Versions } from '../processors/engine/versions.ts';
import type { TopicMessages } from '../processors/runtime/decode.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import { byName, sagaTopic, sagaTopicMessages, streamTopics } from '../topics/derived.ts';

export interface HistorySources {
  /** Saga topic → the versions of the saga it carries. */
  sagas: Map<string, Versions<SagaDefinition>>;
  /** Every topic to read: the sagas' and the streams'. */
  topics: string[];
  catalogue: TopicMessages;
}

export function historySources(project: Project): HistorySources {
  const sagas = new Map([...byName(project.sagas).values()].map((versions) => [sagaTopic(versions).name, versionsOf(versions, (d) => d)]));
  const streams = streamTopics(project.streams);
  const ofSagas = sagaTopicMessages(project.sagas);
  const byStream = new Map(streams.map((t) => [t.name, t.messages]));
  const catalogue: TopicMessages = {
    known: (type) => ofSagas.known(type) || streams.some((t) => t.messages.includes(type)),
    messagesOf: (topic) => ofSagas.messagesOf(topic) ?? byStream.get(topic),
  };
  return { sagas, topics: [...sagas.keys(), ...streams.map((t) => t.name)], catalogue };
}
