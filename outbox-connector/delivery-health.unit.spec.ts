import { describe, expect, it } from 'vitest';
import { judgeDelivery, RECOVER_COMMAND, type DeliveryFacts } from './delivery-health.ts';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const NOW = T0 + 600_000;
const running = { connector: { state: 'RUNNING' }, tasks: [{ id: 0, state: 'RUNNING' }] };
const facts = (over: Partial<DeliveryFacts> = {}): DeliveryFacts => ({
  observedAt: NOW,
  connector: 'billing-service-outbox',
  database: 'billing_service',
  slot: 'sagaline_billing_service_outbox',
  connect: running,
  slotFacts: { active: true, activePid: 100, walStatus: 'reserved', confirmedFlushLsn: '0/1000', lagBytes: 512, retainedBytes: 4096 },
  walsenders: [{ pid: 100, state: 'streaming', since: T0 }],
  heartbeat: { at: NOW - 5_000, ageMs: 5_000 },
  delivered: { windowMs: 60_000, records: 6 },
  ...over,
});
const thresholds = { stallAfterMs: 60_000 };

describe('delivery verdict', () => {
  it('given a running task, an active slot and heartbeat records arriving in Kafka, then it streams', () => {
    expect(judgeDelivery(facts(), thresholds)).toMatchObject({ healthy: true, state: 'streaming', task: 'RUNNING/RUNNING' });
  });

  it('given no heartbeat record in Kafka while an old connection holds the slot and still beats in the database, then it is stalled and names the holder', () => {
    // Given what a long broker outage leaves behind: an abandoned task still streaming into nowhere, holding the slot
    const v = judgeDelivery(facts({ delivered: { windowMs: 60_000, records: 0 } }), thresholds);
    // Then Connect's RUNNING does not hide it, and the holder is the one to end
    expect(v).toMatchObject({ healthy: false, state: 'stalled', staleHolderPid: 100 });
    expect(v.detail).toContain('no heartbeat record reached Kafka in the last 60 s although Connect reports RUNNING');
    expect(v.detail).toContain('held by pid 100');
    expect(v.detail).toContain('abandoned');
  });

  it('given a holder that connected only just now, then it is stalled but not blamed', () => {
    const v = judgeDelivery(facts({ delivered: { windowMs: 60_000, records: 0 }, walsenders: [{ pid: 100, state: 'streaming', since: NOW - 5_000 }] }), thresholds);
    expect(v).toMatchObject({ healthy: false, state: 'stalled' });
    expect(v.staleHolderPid).toBeUndefined();
  });

  it('given nothing delivered and no connection on the slot, then it is stalled since its last database heartbeat', () => {
    const v = judgeDelivery(
      facts({ slotFacts: { ...facts().slotFacts!, active: false, activePid: null }, walsenders: [], heartbeat: { at: NOW - 90_000, ageMs: 90_000 }, delivered: { windowMs: 60_000, records: 0 } }),
      thresholds,
    );
    expect(v).toMatchObject({ healthy: false, state: 'stalled', since: new Date(NOW - 90_000).toISOString() });
    expect(v.staleHolderPid).toBeUndefined();
    expect(v.detail).toContain('no connection streams');
  });

  it('given a lost slot, then it says so, since when, how many rows it strands and how to recover', () => {
    const v = judgeDelivery(facts({ slotFacts: { ...facts().slotFacts!, active: false, activePid: null, walStatus: 'lost' }, heartbeat: { at: T0, ageMs: 3_600_000 }, rowsSinceHeartbeat: 3 }), thresholds);
    expect(v).toMatchObject({ healthy: false, state: 'lost', strandedRows: 3, since: new Date(T0).toISOString() });
    expect(v.detail).toContain(RECOVER_COMMAND);
    expect(v.detail).toContain('3 outbox row(s)');
  });

  it('given a failed task, then it is down with the first line of its trace', () => {
    const v = judgeDelivery(facts({ connect: { connector: { state: 'RUNNING' }, tasks: [{ id: 0, state: 'FAILED', trace: 'org.apache.kafka.connect.errors.ConnectException: boom\n\tat x' }] } }), thresholds);
    expect(v).toMatchObject({ healthy: false, state: 'down', task: 'RUNNING/FAILED' });
    expect(v.detail).toBe('task 0 is FAILED: org.apache.kafka.connect.errors.ConnectException: boom');
  });

  it('given a slot past max_slot_wal_keep_size, then it is at risk before it is lost', () => {
    expect(judgeDelivery(facts({ slotFacts: { ...facts().slotFacts!, walStatus: 'unreserved' } }), thresholds)).toMatchObject({ healthy: false, state: 'at-risk' });
  });

  it('given Connect or Kafka unreachable, or the connector unregistered, then it is down', () => {
    expect(judgeDelivery(facts({ connect: 'unreachable' }), thresholds)).toMatchObject({ healthy: false, state: 'down', task: 'unknown (Connect unreachable)' });
    expect(judgeDelivery(facts({ delivered: 'unreachable' }), thresholds)).toMatchObject({ healthy: false, state: 'down' });
    expect(judgeDelivery(facts({ connect: 'unregistered' }), thresholds).detail).toContain('npx sagaline provision');
  });
});
