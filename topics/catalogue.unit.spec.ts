import { describe, expect, it } from 'vitest';
import { MESSAGE_TYPES } from '../schemas/generated.ts';
import { catalogue, EVENT_LOG_TOPICS, heartbeatTopicFor, topicOfMessage } from './catalogue.ts';

describe('topic catalogue', () => {
  it('puts every message type on exactly one event-log topic', () => {
    for (const type of MESSAGE_TYPES) {
      expect(EVENT_LOG_TOPICS.filter((t) => t.messages.includes(type)).map((t) => t.name), type).toHaveLength(1);
    }
    expect(topicOfMessage('ModelReserved').name).toBe('sagaline.model-events');
  });

  it('keeps event logs and dead letters forever', () => {
    for (const topic of catalogue([]).filter((t) => t.kind !== 'heartbeat')) {
      expect(topic.configs['retention.ms'], topic.name).toBe('-1');
      expect(topic.configs['retention.bytes'], topic.name).toBe('-1');
    }
  });

  it('has a dead-letter topic for every event log and a heartbeat topic per connector', () => {
    const names = catalogue(['model-service']).map((t) => t.name);
    for (const t of EVENT_LOG_TOPICS) expect(names).toContain(`${t.name}.dlq`);
    expect(names).toContain(heartbeatTopicFor('model-service'));
    expect(new Set(names).size).toBe(names.length);
  });
});
