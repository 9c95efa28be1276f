import { describe, expect, it } from 'vitest';
import { countConsumed, createProcessorMetrics } from '../processors/runtime/metrics.ts';
import { consumerLag, sagaCounts, scrapeRegistry } from './metrics.ts';

describe('consumer lag', () => {
  const ends = [
    { partition: 0, low: '0', high: '10' },
    { partition: 1, low: '5', high: '8' },
  ];

  it('is the end offsets minus the committed offsets, summed over partitions', () => {
    expect(consumerLag(ends, [{ partition: 0, offset: '7' }, { partition: 1, offset: '8' }], 'earliest')).toBe(3);
  });

  it('counts a partition with no committed offset from where a new group starts', () => {
    const committed = [{ partition: 0, offset: '10' }, { partition: 1, offset: '-1' }];
    expect(consumerLag(ends, committed, 'earliest')).toBe(3); // from the first kept offset, 5
    expect(consumerLag(ends, committed, 'latest')).toBe(0);
  });

  it('treats a partition missing from the group as uncommitted, and is never negative', () => {
    expect(consumerLag(ends, [{ partition: 0, offset: '12' }], 'earliest')).toBe(3);
  });
});

describe('instances per saga and status', () => {
  it('given rows of one saga, then every saga has every status, 0 where no instance is, and rows of other sagas are left out', () => {
    expect(sagaCounts(['orders', 'refunds'], [{ saga: 'orders', status: 'Completed', count: '3' }, { saga: 'orders', status: 'Compensated', count: 1 }, { saga: 'payroll', status: 'Completed', count: 9 }])).toEqual({
      orders: { Running: 0, Compensating: 0, Completed: 3, Compensated: 1, Parked: 0, Failed: 0 },
      refunds: { Running: 0, Compensating: 0, Completed: 0, Compensated: 0, Parked: 0, Failed: 0 },
    });
  });
});

describe('the scrape', () => {
  it("merges the processors' metrics with the API's gauges", async () => {
    // Given two processors that answered (with their JSON) and one that did not
    const model = createProcessorMetrics('payments');
    countConsumed(model, 'sagaline.orders', 'PaymentCharged');
    const audit = createProcessorMetrics('shipping');
    countConsumed(audit, 'sagaline.orders', 'PaymentCharged');
    countConsumed(audit, 'sagaline.orders', 'PaymentCharged');
    const processors = [
      { name: 'payments' as const, healthy: true, metrics: await model.registry.getMetricsAsJSON() },
      { name: 'shipping' as const, healthy: true, metrics: await audit.registry.getMetricsAsJSON() },
      { name: 'saga-monitor' as const, healthy: false },
    ];

    // When the scrape is built with the saga counts and lag
    const text = await scrapeRegistry({
      processors,
      sagas: sagaCounts(['orders'], [{ saga: 'orders', status: 'Completed', count: 2 }]),
      lag: [{ group: 'sagaline-payments', topic: 'sagaline.orders', lag: 4 }],
    }).metrics();

    // Then each processor keeps its own series, and the API's gauges are there
    expect(text).toContain('sagaline_messages_consumed_total{topic="sagaline.orders",type="PaymentCharged",service="payments"} 1');
    expect(text).toContain('sagaline_messages_consumed_total{topic="sagaline.orders",type="PaymentCharged",service="shipping"} 2');
    expect(text).toContain('sagaline_handler_duration_seconds_bucket{le="+Inf",service="shipping"} 0');
    expect(text).toContain('sagaline_processor_up{service="payments"} 1');
    expect(text).toContain('sagaline_processor_up{service="saga-monitor"} 0');
    expect(text).toContain('sagaline_sagas{saga="orders",status="Completed"} 2');
    expect(text).toContain('sagaline_sagas{saga="orders",status="Failed"} 0');
    expect(text).toContain('sagaline_consumer_lag{group="sagaline-payments",topic="sagaline.orders"} 4');
  });

  it('leaves out a source that could not be read', async () => {
    const text = await scrapeRegistry({ processors: [{ name: 'saga-monitor', healthy: false }] }).metrics();
    expect(text).toContain('sagaline_processor_up{service="saga-monitor"} 0');
    expect(text).not.toContain('sagaline_sagas');
    expect(text).not.toContain('sagaline_consumer_lag');
  });

  it('has one delivery series per connector, saying whether it delivers and why not', async () => {
    // Given one connector streaming and one whose slot was lost with 3 rows stranded
    const position = { active: true, activePid: 1, walStatus: 'reserved', confirmedFlushLsn: '0/1', lagBytes: 128, retainedBytes: 256 };
    const delivery = [
      { connector: 'a-outbox', database: 'a', slot: 'sagaline_a_outbox', healthy: true, state: 'streaming' as const, task: 'RUNNING/RUNNING', position, lastHeartbeatAt: new Date().toISOString() },
      { connector: 'b-outbox', database: 'b', slot: 'sagaline_b_outbox', healthy: false, state: 'lost' as const, task: 'RUNNING/RUNNING', position: { ...position, walStatus: 'lost' }, lastHeartbeatAt: null, strandedRows: 3 },
    ];
    // When scraped
    const text = await scrapeRegistry({ processors: [], delivery }).metrics();
    // Then
    expect(text).toContain('sagaline_delivery_healthy{connector="a-outbox",slot="sagaline_a_outbox"} 1');
    expect(text).toContain('sagaline_delivery_healthy{connector="b-outbox",slot="sagaline_b_outbox"} 0');
    expect(text).toContain('sagaline_delivery_state{connector="b-outbox",slot="sagaline_b_outbox",state="lost"} 1');
    expect(text).toContain('sagaline_delivery_state{connector="b-outbox",slot="sagaline_b_outbox",state="streaming"} 0');
    expect(text).toContain('sagaline_outbox_stranded_rows{connector="b-outbox",slot="sagaline_b_outbox"} 3');
    expect(text).toContain('sagaline_replication_slot_lag_bytes{connector="a-outbox",slot="sagaline_a_outbox"} 128');
  });
});
