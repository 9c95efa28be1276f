/**
 * Listing the projection, a page at a time: the filters (saga, status, tenant, a range of start
 * times), newest first, and keyset paging — each page continues strictly after the last row of the
 * one before, so a page costs the same at the first saga and the 100,000th, and sagas started in
 * between never shift a page. Pure: the SQL and the cursor; the client runs it.
 *
 * Every filter combination is served by one of the projection's indexes in this order (see
 * MONITOR_DDL in monitor.ts): no sequential scan and no sort, however many sagas there are.
 */
import type pg from 'pg';
import { SagalineError } from '../../core/errors.ts';
import type { InstanceStatus } from '../saga/instance.ts';

export interface SagaListFilter {
  saga?: string;
  status?: InstanceStatus;
  tenantId?: string;
  /** Started at or after this time. */
  startedFrom?: Date;
  /** Started before this time. */
  startedBefore?: Date;
  /** The `next` of the page before: this page continues after it. */
  after?: string;
  /** Rows per page (default 100). */
  limit?: number;
}

export const DEFAULT_PAGE_SIZE = 100;

/** The key a page ends at: the start time in microseconds (UTC) and the saga id, as Postgres orders them. */
const PAGE_KEY_SQL = `to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const KEY_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * Whether an ISO 8601 time names a real instant as written: a month of 1–12, a day its month has,
 * hours to 23 — where `new Date` would roll 31 February over into March, and Postgres refuse it.
 */
export function isRealTime(text: string): boolean {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|[+-](\d\d):(\d\d))$/.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second = 0, offsetHours = 0, offsetMinutes = 0] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return year! >= 1 && month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
}

export function encodeCursor(pageKey: string, sagaId: string): string {
  return Buffer.from(`${pageKey}\n${sagaId}`, 'utf8').toString('base64url');
}

/** The position a cursor names; REQUEST_INVALID for anything this module did not make. */
export function decodeCursor(cursor: string): { startedAt: string; sagaId: string } {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const cut = text.indexOf('\n');
  const startedAt = text.slice(0, cut);
  const sagaId = text.slice(cut + 1);
  if (cut < 0 || !KEY_TIME.test(startedAt) || !isRealTime(startedAt) || sagaId === '') {
    throw new SagalineError('REQUEST_INVALID', `cursor ${JSON.stringify(cursor.slice(0, 80))} is not one a page of sagas gave (pass the "next" of the page before)`);
  }
  return { startedAt, sagaId };
}

/**
 * The query for one page of `sagaNames`' instances: one row more than the page, so the caller
 * knows whether another page follows. Each row carries `page_key` for `encodeCursor`.
 */
export function sagaListQuery(filter: SagaListFilter, sagaNames: readonly string[]): { text: string; values: unknown[]; limit: number } {
  const values: unknown[] = [[...new Set(sagaNames)]];
  const where = ['saga = any($1)'];
  const param = (value: unknown) => `$${values.push(value)}`;
  if (filter.saga !== undefined) where.push(`saga = ${param(filter.saga)}`);
  if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
  if (filter.tenantId !== undefined) where.push(`tenant_id = ${param(filter.tenantId)}`);
  if (filter.startedFrom !== undefined) where.push(`started_at >= ${param(filter.startedFrom)}`);
  if (filter.startedBefore !== undefined) where.push(`started_at < ${param(filter.startedBefore)}`);
  if (filter.after !== undefined) {
    const at = decodeCursor(filter.after);
    where.push(`(started_at, saga_id) < (${param(at.startedAt)}::timestamptz, ${param(at.sagaId)})`);
  }
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  const text = `select *, ${PAGE_KEY_SQL} as page_key from saga_instances where ${where.join(' and ')} order by started_at desc, saga_id desc limit ${param(limit + 1)}`;
  return { text, values, limit };
}

/** Runs one page's query on the projection's database: its rows (with `page_key`) and the cursor of the next page, if any. */
export async function fetchSagaPage(db: Pick<pg.Pool, 'query'>, filter: SagaListFilter, sagaNames: readonly string[]): Promise<{ rows: Record<string, unknown>[]; next: string | null }> {
  const query = sagaListQuery(filter, sagaNames);
  const { rows } = await db.query(query.text, query.values);
  const last = rows.length > query.limit ? rows[query.limit - 1] : undefined;
  return { rows: rows.slice(0, query.limit), next: last ? encodeCursor(last.page_key, last.saga_id) : null };
}
