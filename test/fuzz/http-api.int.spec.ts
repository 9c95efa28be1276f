/**
 * The HTTP API against a hostile client, on the real stack: requests to every route with fuzzed
 * path segments, query strings, bodies (any JSON, broken JSON, wrong content types) and methods,
 * served by the API as `sagaline serve` builds it (Fastify's request injection, no socket), with the
 * order fixture's saga and posted sagas, reading and writing the real Postgres, Kafka and registry.
 * Every answer is below 500; every refusal is a JSON error naming its code and why; and a refusal
 * writes nothing: no outbox row, no two-phase commit record.
 */
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../api/server.ts';
import { pgPool } from '../../core/clients.ts';
import { ENGINE_DATABASE, loadConfig } from '../../core/config.ts';
import { postedSagaRunner, postedSagas, provisionSagas, sagaClient, SAGAS_DATABASE, staticServices, type SagaClient } from '../../index.ts';
import type { Project } from '../../processors/engine/project.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment } from '../fixtures/order-saga/saga.ts';
import { config, uniqueName } from '../support/fixtures.ts';
import { FUZZ_TIMEOUT_MS, fuzzRuns, HOSTILE_KEYS, hostileJson, hostileString } from '../support/fuzz.ts';
import { apiToken, bearer } from '../support/tokens.ts';

const SERVICES = { flights: 'http://127.0.0.1:9', hotels: 'http://127.0.0.1:9' };
const tenant = uniqueName('fuzz-tenant');
const project: Project = {
  file: 'test/fixtures/order-saga/sagaline.config.ts',
  schemas: ORDER_SCHEMAS,
  sagas: [orderFulfilment, postedSagas],
  participants: [...ORDER_PARTICIPANTS, postedSagaRunner({ services: staticServices(SERVICES) })],
  streams: {},
};
const sagasDb = pgPool(config, SAGAS_DATABASE, 1);
const engineDb = pgPool(config, ENGINE_DATABASE, 1);
let client: Promise<SagaClient> | undefined;
let app: Api;

/** What a refusal must leave as it was: the engine's outbox and the two-phase commit log. */
async function written(): Promise<string> {
  const outbox = await sagasDb.query<{ seq: string | null }>('select max(seq)::text as seq from outbox');
  const tpc = await engineDb
    .query<{ n: string }>('select (select count(*) from tpc_transactions) + (select count(*) from tpc_participants) as n')
    .catch((err: { code?: string }) => (err.code === '42P01' ? { rows: [{ n: '0' }] } : Promise.reject(err)));
  return `outbox seq ${outbox.rows[0]!.seq}, two-phase commit rows ${tpc.rows[0]!.n}`;
}

/** Percent-encoded as a client would; a lone surrogate (which encodeURIComponent refuses) as the raw bytes some clients send for it. */
function enc(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

/** A path segment as a client might send it: plain, percent-encoded, or raw and broken (`%ZZ`, `..`, a lone `%`). */
const segment = fc.oneof(
  fc.constantFrom('order-fulfilment', 'posted-sagas', 'no-such-saga', 'none', 'definition', 'events', uniqueName('fuzz')),
  hostileString.map(enc),
  fc.constantFrom('%ZZ', '%', '..', '.', '%2F', '%00', '%E0%A4%A', 'a%20b', '~'),
);

const queryValue = fc.oneof(fc.constantFrom('Running', 'Completed', 'order-fulfilment', '2026-01-01T00:00:00Z', '2026-02-30T00:00:00Z', 'fluxora', 'record', tenant), hostileString);
const queryKey = fc.oneof(fc.constantFrom('saga', 'status', 'tenant', 'from', 'to', 'after', 'limit', 'shape', 'service', 'topic', 'error', ...HOSTILE_KEYS), hostileString);
const query = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`));

/** Bodies near a route's own shape, with hostile values, and anything else at all. */
const orderPayload = fc.record({ orderId: fc.oneof(fc.constant('o-1'), hostileString), amountCents: fc.oneof(fc.integer(), hostileJson) }, { requiredKeys: [] });
const postedStep = fc.record(
  { service_name: fc.oneof(fc.constantFrom('flights', 'hotels', 'boats'), hostileString), action_endpoint: fc.oneof(fc.constant('/book'), hostileString), compensation_endpoint: fc.oneof(fc.constant(null), fc.constant('/undo'), hostileJson), payload: hostileJson },
  { requiredKeys: [] },
);
const jsonBody = fc.oneof(
  fc.record({ payload: fc.oneof(orderPayload, hostileJson), tenantId: fc.oneof(fc.constant(tenant), hostileJson), sagaId: hostileJson }, { requiredKeys: [] }),
  fc.record({ name: hostileJson, steps: fc.oneof(fc.array(postedStep, { maxLength: 3 }), hostileJson), tenantId: hostileJson, sagaId: hostileJson }, { requiredKeys: [] }),
  fc.record({ reason: hostileJson, by: hostileJson, service: hostileJson, positions: fc.oneof(fc.array(hostileString, { maxLength: 3 }), hostileJson), force: hostileJson }, { requiredKeys: [] }),
  fc.record({ txId: hostileJson, operation: hostileJson, participants: hostileJson, name: hostileJson, database: hostileJson, action: hostileJson, params: hostileJson }, { requiredKeys: [] }),
  hostileJson,
);
const body = fc.oneof(
  { weight: 6, arbitrary: jsonBody.map((b) => ({ type: 'application/json', text: JSON.stringify(b) ?? 'null' })) },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', '[1,]', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', 'null', '', '\u0000', 'NaN', '1e999', '"\\ud800"').map((text) => ({ type: 'application/json', text })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data', 'application/xml'), hostileString).map(([type, text]) => ({ type, text })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const route = fc.oneof(
  fc.tuple(segment).map(([a]) => `/sagas/${a}`),
  fc.tuple(segment, segment).map(([a, b]) => `/sagas/${a}/${b}`),
  fc.tuple(segment, fc.constantFrom('cancel', 'retry', 'resume', 'skip', 'definition')).map(([a, b]) => `/sagas/${a}/${b}`),
  fc.constantFrom('/sagas', '/sagas/order-fulfilment', '/parked', '/stuck', '/dead-letters/redrive', '/definitions', '/2pc/transactions', '/health/live', '/ui/', '/ui/app.js'),
  fc.tuple(segment, fc.constantFrom('', '/participants', '/prepare', '/commit', '/abort')).map(([a, b]) => `/2pc/transactions/${a}${b}`),
  fc.tuple(segment, segment).map(([a, b]) => `/${a}/${b}`),
);

/** A header value Node can send (visible ASCII, Latin-1, tabs and spaces): anything else the client refuses itself. */
const headerValue = hostileString.map((h) => h.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?'));
/** Who asks: mostly the operator (to reach the routes), else a tenant, nobody, or a hostile Authorization header. */
const tokens = { operator: '', tenant: '' };
const auth = fc.oneof(
  { weight: 8, arbitrary: fc.constant(() => bearer(tokens.operator)) },
  { weight: 2, arbitrary: fc.constant(() => bearer(tokens.tenant)) },
  { weight: 1, arbitrary: fc.constant(() => ({})) },
  { weight: 1, arbitrary: headerValue.map((h) => () => ({ authorization: h })) },
  { weight: 1, arbitrary: headerValue.map((h) => () => ({ authorization: `Bearer sgl_${h}` })) },
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path: route,
  query,
  body,
  auth,
});

describe('the HTTP API, fuzzed', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: project.sagas, participants: project.participants, schemas: ORDER_SCHEMAS });
    tokens.operator = await apiToken();
    tokens.tenant = await apiToken({ role: 'tenant', tenantId: 'fuzz-tenant' });
    const served = { project, client: () => (client ??= sagaClient(project.sagas, { config, schemas: ORDER_SCHEMAS })) };
    app = buildApi(loadConfig({ ...process.env, SAGALINE_SERVICES: JSON.stringify(SERVICES) }), served, { logger: pino({ level: 'silent' }), auditTimeoutMs: 20_000 });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await (await client?.catch(() => undefined))?.close();
    await Promise.all([sagasDb.end(), engineDb.end()]);
  });

  it('given any request to any route, then the answer is below 500, a refusal is a JSON error naming why, and a refusal writes nothing', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, query: q, body: b, auth: headers }) => {
        const before = await written();
        const res = await app.inject({
          method: method as 'GET',
          url: `${path}${q}`,
          headers: { ...headers(), ...(b && method !== 'GET' ? { 'content-type': b.type } : {}) },
          ...(b && method !== 'GET' ? { payload: b.text } : {}),
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        const what = `${method} ${path}${q} ${b ? `${b.type} ${b.text.slice(0, 300)}` : ''} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, what).toBeLessThan(500);
        if (res.statusCode >= 400) {
          const error = (res.json() as { error?: { code?: unknown; message?: unknown } }).error;
          expect(typeof error?.code === 'string' && error.code.length > 0, what).toBe(true);
          expect(typeof error?.message === 'string' && error.message.length > 0, what).toBe(true);
          expect(await written(), `a refusal wrote: ${what}`).toBe(before);
        }
      }),
      fuzzRuns(250, 20),
    );
    // The cases reached past the routing: refusals of several kinds, not only 404s for unknown paths.
    expect([...statuses.keys()].filter((s) => s === 400 || s === 409 || s === 415).length, JSON.stringify([...statuses])).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(20);
  }, FUZZ_TIMEOUT_MS);
});
