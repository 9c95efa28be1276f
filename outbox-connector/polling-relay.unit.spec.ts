import { describe, expect, it } from 'vitest';
import { groupByTopic, toKafkaRecord } from './polling-relay.ts';

const row = (id: string, aggregatetype: string, aggregateid: string) => ({
  id, aggregatetype, aggregateid, payload: Buffer.from([0, 0, 0, 0, 1, 42]),
  type: 'FlightBooked', tenant_id: 't1', saga_id: aggregateid, correlation_id: aggregateid, causation_id: 'c', traceparent: 'tp', occurred_at: '2026-12-05T09:21:58.055040',
});

describe('polling relay records', () => {
  it('builds the record Debezium\'s EventRouter builds: topic from aggregatetype, key, headers, untouched bytes', () => {
    const record = toKafkaRecord(row('5f0c…', 'trip-booking', 'saga-1'));
    expect(record.topic).toBe('sagaline.trip-booking');
    expect(record.message.key).toBe('saga-1');
    expect([...(record.message.value as Buffer)]).toEqual([0, 0, 0, 0, 1, 42]);
    expect(record.message.headers).toEqual({
      id: '5f0c…', eventType: 'FlightBooked', tenantId: 't1', sagaId: 'saga-1', correlationId: 'saga-1', causationId: 'c', traceparent: 'tp',
      // As Debezium's ZonedTimestamp: UTC, six fractional digits
      occurredAt: '2026-12-05T09:21:58.055040Z',
    });
  });

  it('groups by topic without reordering messages within a topic', () => {
    const grouped = groupByTopic([
      toKafkaRecord(row('1', 'trip-booking', 's1')),
      toKafkaRecord(row('2', 'fare-changes', 's1')),
      toKafkaRecord(row('3', 'trip-booking', 's1')),
    ]);
    expect(grouped.map((g) => [g.topic, g.messages.map((m) => m.headers?.id)])).toEqual([
      ['sagaline.trip-booking', ['1', '3']],
      ['sagaline.fare-changes', ['2']],
    ]);
  });
});
