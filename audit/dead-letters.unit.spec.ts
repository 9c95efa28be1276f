import { describe, expect, it } from 'vitest';
import { groupDeadLetters, type DeadLetterRecord } from './dead-letters.ts';

const letter = (offset: number, source: number, group: string | undefined, extra: Record<string, string> = {}): DeadLetterRecord => ({
  partition: 0,
  offset: String(offset),
  key: 'saga-1',
  headers: {
    id: `m-${source}`,
    eventType: 'OrderPlaced',
    ...(group ? { 'dlq.group': group } : {}),
    'dlq.error': `record m-${source} on sagaline.orders does not decode`,
    'dlq.error.code': 'POISON_MESSAGE',
    'dlq.source.topic': 'sagaline.orders',
    'dlq.source.partition': '2',
    'dlq.source.offset': String(source),
    'dlq.failed.at': `2026-12-04T10:00:0${offset}.000Z`,
    ...extra,
  },
});

describe('dead letters, one entry per source record', () => {
  it('given one record dead-lettered by three groups and another by one, when grouped, then each record is one entry naming the groups that failed, in order of first failure', () => {
    // Given
    const letters = [letter(0, 40, 'sagaline-shipping'), letter(1, 40, 'sagaline-billing'), letter(2, 41, 'sagaline-billing'), letter(3, 40, 'sagaline-monitor')];

    // When
    const entries = groupDeadLetters('sagaline.orders.dlq', letters);

    // Then
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      source: { topic: 'sagaline.orders', partition: 2, offset: '40' },
      messageId: 'm-40',
      type: 'OrderPlaced',
      sagaId: 'saga-1',
      errorCode: 'POISON_MESSAGE',
      groups: ['sagaline-billing', 'sagaline-monitor', 'sagaline-shipping'],
      unnamedGroups: 0,
      firstFailedAt: '2026-12-04T10:00:00.000Z',
      lastFailedAt: '2026-12-04T10:00:03.000Z',
    });
    expect(entries[0]!.deadLetters.map((d) => d.offset)).toEqual(['0', '1', '3']);
    expect(entries[1]).toMatchObject({ source: { offset: '41' }, groups: ['sagaline-billing'] });
  });

  it('given dead letters written before they named their group, when grouped, then they are counted as unnamed, not dropped', () => {
    // Given
    const letters = [letter(0, 40, undefined), letter(1, 40, undefined), letter(2, 40, 'sagaline-billing')];

    // When
    const [entry] = groupDeadLetters('sagaline.orders.dlq', letters);

    // Then
    expect(entry).toMatchObject({ groups: ['sagaline-billing'], unnamedGroups: 2 });
  });

  it('given a filter by saga, topic and error text, when grouped, then only matching records are listed', () => {
    // Given
    const letters = [letter(0, 40, 'g'), letter(1, 41, 'g', { sagaId: 'saga-2', 'dlq.error': 'record has no "eventType" header' })];

    // When / Then
    expect(groupDeadLetters('sagaline.orders.dlq', letters, { sagaId: 'saga-2' }).map((e) => e.source.offset)).toEqual(['41']);
    expect(groupDeadLetters('sagaline.orders.dlq', letters, { error: 'EVENTTYPE' }).map((e) => e.source.offset)).toEqual(['41']);
    expect(groupDeadLetters('sagaline.orders.dlq', letters, { topic: 'sagaline.other' })).toEqual([]);
  });

  it('given a redrive mark beside the dead letters, and a dead letter of the redriven copy, when grouped, then the entry shows the redrive and the copy is its own entry pointing back', () => {
    // Given
    const mark: DeadLetterRecord = {
      partition: 0,
      offset: '5',
      key: 'saga-1',
      headers: { 'dlq.redriven.of': 'sagaline.orders/2@40', 'dlq.redriven.to': 'sagaline.orders/2@77', 'dlq.redriven.groups': 'g1,g2', 'dlq.redriven.by': 'ops', 'dlq.redriven.reason': 'schema restored', 'dlq.redriven.at': '2026-12-04T11:00:00.000Z' },
    };
    const copy = letter(6, 77, 'g1', { 'sagaline.redrive.of': 'sagaline.orders/2@40' });

    // When
    const entries = groupDeadLetters('sagaline.orders.dlq', [letter(0, 40, 'g1'), letter(1, 40, 'g2'), mark, copy]);

    // Then
    expect(entries.map((e) => [e.source.offset, e.redriveOf])).toEqual([['40', null], ['77', 'sagaline.orders/2@40']]);
    expect(entries[0]!.redriven).toEqual([{ to: 'sagaline.orders/2@77', groups: ['g1', 'g2'], by: 'ops', reason: 'schema restored', at: '2026-12-04T11:00:00.000Z' }]);
    expect(entries[0]!.deadLetters).toHaveLength(2);
  });
});
