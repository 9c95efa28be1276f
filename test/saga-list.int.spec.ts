/**
 * The saga list with 100,000 sagas in a projection (real Postgres, the projection's own DDL): every
 * filter the API and the UI offer is served by an index in list order — no sequential scan, no
 * sort, on the first page or a later one — and paging through a filter returns each saga once, in
 * order, across start-time ties and microseconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MONITOR_DDL } from '../processors/engine/monitor.ts';
import { fetchSagaPage, sagaListQuery, type SagaListFilter } from '../processors/engine/saga-list.ts';
import { createTestDatabase, type TestDatabase } from './support/fixtures.ts';

const SAGAS = 100_000;
const NAMES = ['order-fulfilment', 'room-booking'];
let db: TestDatabase;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

async function planOf(filter: SagaListFilter): Promise<PlanNode[]> {
  const q = sagaListQuery(filter, NAMES);
  const { rows } = await db.pool.query(`explain (analyze, format json) ${q.text}`, q.values);
  return nodes((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan);
}

describe('the saga list, with 100,000 sagas in the projection', () => {
  beforeAll(async () => {
    db = await createTestDatabase('saga_list');
    for (const statement of MONITOR_DDL) await db.pool.query(statement);
    // Three sagas of each start time (ties broken by id), a few microseconds apart within each second;
    // a tenth of a third definition the project does not have.
    await db.pool.query(
      `insert into saga_instances (saga_id, saga, version, status, tenant_id, traceparent, last_message_id, state, started_at)
       select 's-' || lpad(i::text, 6, '0'),
              case when i % 10 = 0 then 'payroll' when i % 3 = 0 then 'room-booking' else 'order-fulfilment' end,
              1,
              (array['Running','Compensating','Completed','Compensated','Parked','Failed'])[1 + (i / 7) % 6],
              'tenant-' || (i % 97),
              '00-00000000000000000000000000000001-0000000000000001-01',
              gen_random_uuid(), '{}'::jsonb,
              timestamptz '2026-01-01 00:00:00Z' + (i / 3) * interval '1 second' + (i % 2) * interval '1 microsecond'
       from generate_series(1, $1) i`,
      [SAGAS],
    );
    await db.pool.query('analyze saga_instances');
  });

  afterAll(async () => {
    await db?.drop();
  });

  const from = new Date('2026-01-01T05:00:00Z');
  const before = new Date('2026-01-01T09:00:00Z');
  it.each<[string, SagaListFilter]>([
    ['no filter', {}],
    ['a definition', { saga: 'room-booking' }],
    ['a state', { status: 'Failed' }],
    ['a tenant', { tenantId: 'tenant-42' }],
    ['a definition and a state', { saga: 'order-fulfilment', status: 'Compensated' }],
    ['a time range', { startedFrom: from, startedBefore: before }],
    ['a definition and a time range', { saga: 'room-booking', startedFrom: from, startedBefore: before }],
    ['a tenant and a state', { tenantId: 'tenant-42', status: 'Running' }],
  ])('given %s, when a page is planned, then an index gives it in list order, first page or later, reading little beyond it', async (_what, filter) => {
    // Given a cursor from the middle of the filter's sagas
    const first = await fetchSagaPage(db.pool, { ...filter, limit: 50 }, NAMES);
    expect(first.rows.length).toBe(50);
    for (const page of [filter, { ...filter, after: first.next! }]) {
      // When
      const plan = await planOf({ ...page, limit: 50 });
      // Then
      const types = plan.map((n) => n['Node Type']);
      expect(types, JSON.stringify(plan.map((n) => [n['Node Type'], n['Index Name']]))).not.toContain('Seq Scan');
      expect(types).not.toContain('Sort');
      expect(types).not.toContain('Incremental Sort');
      expect(plan.some((n) => n['Index Name']?.startsWith('saga_instances_by_'))).toBe(true);
      // The index narrows it to the filter: few rows read only to be dropped (a page is 51)
      const dropped = plan.reduce((sum, n) => sum + (n['Rows Removed by Filter'] ?? 0), 0);
      expect(dropped, 'rows read and dropped by a filter').toBeLessThanOrEqual(510);
    }
  });

  it('given a tenant, when paged through 100 at a time, then every one of its sagas once, newest first, and none of a definition the project lacks', async () => {
    const { rows: expected } = await db.pool.query<{ saga_id: string }>(
      `select saga_id from saga_instances where tenant_id = 'tenant-7' and saga = any($1) order by started_at desc, saga_id desc`,
      [NAMES],
    );
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await fetchSagaPage(db.pool, { tenantId: 'tenant-7', limit: 100, ...(after ? { after } : {}) }, NAMES);
      seen.push(...page.rows.map((r) => r.saga_id as string));
      after = page.next ?? undefined;
      pages += 1;
    } while (after && pages < 100);
    expect(expected.length).toBeGreaterThan(900);
    expect(seen).toEqual(expected.map((r) => r.saga_id));
    expect(pages).toBe(Math.ceil(expected.length / 100));
  });

  it('given a time range, when paged, then only sagas started at or after its start and before its end', async () => {
    const page = await fetchSagaPage(db.pool, { startedFrom: from, startedBefore: before, limit: 1000 }, NAMES);
    const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from saga_instances where started_at >= $1 and started_at < $2 and saga = any($3)`, [from, before, NAMES]);
    expect(page.rows.length).toBe(1000);
    expect(rows[0]!.n).toBeGreaterThan(1000);
    for (const r of page.rows) {
      expect((r.started_at as Date).getTime()).toBeGreaterThanOrEqual(from.getTime());
      expect((r.started_at as Date).getTime()).toBeLessThan(before.getTime());
    }
    expect(page.rows[0]!.started_at).toEqual(new Date('2026-01-01T08:59:59Z')); // the newest second before the end (to the millisecond)
  });
});
