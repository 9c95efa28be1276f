import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { addressedTo, deadLetterHeaders } from './consumer.ts';

const record = (headers: KafkaMessage['headers']): KafkaMessage => ({ key: null, value: null, timestamp: '0', attributes: 0, offset: '12', headers }) as KafkaMessage;

describe('which consumer groups a record is for', () => {
  it('given a record without a redrive header, then it is for every group', () => {
    expect(addressedTo(record({ id: Buffer.from('m') }), 'sagaline-monitor.orders')).toBe(true);
  });

  it('given a redriven copy naming two groups, then only those two handle it (names compared whole)', () => {
    const copy = record({ 'sagaline.redrive.groups': Buffer.from('sagaline-orders-billing,sagaline-monitor.orders') });
    expect(addressedTo(copy, 'sagaline-orders-billing')).toBe(true);
    expect(addressedTo(copy, 'sagaline-monitor.orders')).toBe(true);
    expect(addressedTo(copy, 'sagaline-orders-shipping')).toBe(false);
    expect(addressedTo(copy, 'sagaline-orders')).toBe(false);
  });
});

describe('a dead letter', () => {
  it('given a record a group cannot decode, then its dead letter names the group, the error and where the record is', () => {
    const headers = deadLetterHeaders(new Error('payload is not in the Confluent wire format'), 'sagaline.orders', 3, record({}), new Date('2026-12-04T10:00:00Z'), 'sagaline-orders-billing');
    expect(headers).toEqual({
      'dlq.group': 'sagaline-orders-billing',
      'dlq.error': 'payload is not in the Confluent wire format',
      'dlq.error.code': 'Error',
      'dlq.source.topic': 'sagaline.orders',
      'dlq.source.partition': '3',
      'dlq.source.offset': '12',
      'dlq.failed.at': '2026-12-04T10:00:00.000Z',
    });
  });
});
