/**
 * History read back from the log for a saga of its user's own, through the CLI as a user runs it:
 * `audit`, `replay --rebuild`, `replay --export` + `verify-export`, and `definitions check` for
 * an instance in flight under an older version.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../audit/log-reader.ts';
import { kafkaClient, pgPool } from '../core/clients.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, SagaIdTakenError, SAGAS_DATABASE, type SagaClient } from '../index.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment, type OrderPlaced } from './fixtures/order-saga/saga.ts';
import { inFlightV1, inFlightV2 } from './fixtures/order-saga/in-flight.config.ts';
import { sagaTopic } from '../topics/derived.ts';
import { sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';

const ORDERS = ['--config', fileURLToPath(new URL('./fixtures/order-saga/sagaline.config.ts', import.meta.url))];
const IN_FLIGHT = ['--config', fileURLToPath(new URL('./fixtures/order-saga/in-flight.config.ts', import.meta.url))];
const logger = createLogger({ logLevel: 'warn' }, 'history');
const running: { stop(): Promise<void> }[] = [];
const engine = pgPool(config, SAGAS_DATABASE, 2);
const tenant = uniqueName('history');
const dir = mkdtempSync(join(tmpdir(), 'sagaline-history-'));
let orders: SagaClient;
let completed = '';
let compensated = '';

async function settled(client: SagaClient, sagaId: string, statuses = ['Completed', 'Compensated']): Promise<void> {
  await waitFor(`saga ${sagaId} to reach ${statuses.join(' or ')}`, async () => statuses.includes((await client.get(sagaId))?.status ?? ''), { timeoutMs: 90_000 });
}

const place = (levers: Partial<OrderPlaced> = {}) => orders.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 990, ...levers }, { tenantId: tenant });

describe('history of a saga of its user’s own, from the log', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, schemas: ORDER_SCHEMAS });
    await provisionSagas(config, { sagas: [inFlightV1, inFlightV2], participants: [], schemas: ORDER_SCHEMAS });
    running.push(await runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger, deliveryGuard: false }));
    running.push(await runSagaMonitor([inFlightV1, inFlightV2], { config, schemas: ORDER_SCHEMAS, logger, deliveryGuard: false }));
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    orders = await sagaClient([orderFulfilment], { config, schemas: ORDER_SCHEMAS });
    completed = await place();
    compensated = await place({ failAt: 'RESERVE_STOCK' });
    await settled(orders, completed);
    await settled(orders, compensated);
  });

  afterAll(async () => {
    await orders?.close();
    for (const r of running.reverse()) await r.stop();
    await engine.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('given a compensated order, when audited, then its messages in causal order, who wrote each, and the state they fold to', async () => {
    const result = await sagaline(['audit', compensated, '--json', ...ORDERS]);
    expect(result.code, result.stderr).toBe(0);
    const timeline = JSON.parse(result.stdout) as { saga: string; version: number; events: { type: string; service: string }[]; state: { status: string; steps: Record<string, { status: string }> } };
    expect(timeline).toMatchObject({ saga: 'order-fulfilment', version: 1 });
    const events = timeline.events.map((e) => `${e.type}@${e.service}`);
    expect(events.slice(0, 2)).toEqual(['SagaStarted@requester', 'OrderPlaced@requester']);
    expect(events).toEqual(expect.arrayContaining(['PaymentCharged@payments', 'StockUnavailable@warehouse', 'PaymentRefunded@payments']));
    expect(events.indexOf('PaymentRefunded@payments')).toBeGreaterThan(events.indexOf('StockUnavailable@warehouse'));
    expect(timeline.state.status).toBe('Compensated');
    expect(timeline.state.steps.CHARGE?.status).toBe('compensated');
    // And the text form names the saga and the state
    const text = await sagaline(['audit', compensated, ...ORDERS]);
    expect(text.stdout).toContain(`saga ${compensated} (order-fulfilment v1)`);
    expect(text.stdout).toContain('state derived from these messages: Compensated');
  });

  it('given an id with nothing in the log, when audited, then one line says so and the exit code is not 0', async () => {
    const result = await sagaline(['audit', uniqueName('nothing'), ...ORDERS]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no message of saga \S+ in the event log/);
  });

  it('given the live projection, when each saga is rebuilt from the log, then no difference; when a row is corrupted, then that saga is named', async () => {
    for (const sagaId of [completed, compensated]) {
      const result = await sagaline(['replay', '--rebuild', '--saga', sagaId, '--json', ...ORDERS]);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as { rebuild: { sagasCompared: number; differences: unknown[] } };
      expect(report.rebuild).toMatchObject({ sagasCompared: 1, differences: [] });
    }
    // Whatever SHIP's status is (a loaded machine may time the order out), the row is made to say otherwise
    const original = (await engine.query<{ s: string }>("select state->'steps'->'SHIP'->>'status' as s from saga_instances where saga_id = $1", [completed])).rows[0]!.s;
    await engine.query(`update saga_instances set state = jsonb_set(state, '{steps,SHIP,status}', '"corrupted"') where saga_id = $1`, [completed]);
    try {
      const result = await sagaline(['replay', '--rebuild', '--saga', completed, ...ORDERS]);
      expect(result.code, result.stdout).toBe(1);
      expect(result.stdout).toContain(`saga ${completed} differs:\n  state.steps.SHIP.status: "corrupted" ≠ "${original}"\n`);
    } finally {
      await engine.query(`update saga_instances set state = jsonb_set(state, '{steps,SHIP,status}', to_jsonb($2::text)) where saga_id = $1`, [completed, original]);
    }
  });

  it('given an id another saga holds, when a saga is started under it, then refused, naming the holder; when two sagas start under one id at once, then the first projected keeps it and both monitors go on', async () => {
    const other = await sagaClient([inFlightV1, inFlightV2], { config, schemas: ORDER_SCHEMAS });
    try {
      // Given an order that ended: when an instance of another saga asks for its id, then refused
      const before = await orders.get(completed);
      await expect(other.start(inFlightV1, { orderId: uniqueName('order'), amountCents: 5 }, { tenantId: tenant, sagaId: completed })).rejects.toThrow(SagaIdTakenError);
      await expect(other.start(inFlightV1, { orderId: uniqueName('order'), amountCents: 5 }, { tenantId: tenant, sagaId: completed })).rejects.toThrow(`saga id "${completed}" is already an instance of order-fulfilment; an instance of order-in-flight needs an id of its own`);
      expect(await orders.get(completed)).toEqual(before);

      // When two sagas start under one id before either is projected (no check can see it yet): the
      // in-flight one is projected first, then the order's start commits and its participants run it
      const shared = uniqueName('shared');
      const held = await engine.connect();
      try {
        await held.query('begin');
        await orders.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 990 }, { tenantId: tenant, sagaId: shared, tx: held });
        await other.start(inFlightV1, { orderId: uniqueName('order'), amountCents: 5 }, { tenantId: tenant, sagaId: shared });
        await waitFor(`${shared} to be projected as order-in-flight`, async () => (await other.get(shared))?.saga === 'order-in-flight', { timeoutMs: 90_000 });
        await held.query('commit');
      } finally {
        held.release();
      }
      // Then the id is one saga's instance, and each monitor goes on past it on that partition: later instances there are projected
      const admin = kafkaClient(config, uniqueName('history-admin')).admin();
      await admin.connect();
      const partitionsOf = async (saga: typeof orderFulfilment) => (await admin.fetchTopicOffsets(sagaTopic([saga]).name)).length;
      const [orderPartitions, inFlightPartitions] = await Promise.all([partitionsOf(orderFulfilment), partitionsOf(inFlightV1)]).finally(() => admin.disconnect());
      const besideIt = (partitions: number, prefix: string) => {
        for (let i = 0; ; i++) if (partitionForKey(`${prefix}-${i}`, partitions) === partitionForKey(shared, partitions)) return `${prefix}-${i}`;
      };
      const nextOrder = await orders.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 990 }, { tenantId: tenant, sagaId: besideIt(orderPartitions, uniqueName('next-order')) });
      const nextInFlight = await other.start(inFlightV1, { orderId: uniqueName('order'), amountCents: 5 }, { tenantId: tenant, sagaId: besideIt(inFlightPartitions, uniqueName('next-in-flight')) });
      await settled(orders, nextOrder);
      await waitFor(`${nextInFlight} to be projected`, async () => (await other.get(nextInFlight))?.status === 'Running', { timeoutMs: 90_000 });
      // And the id stays the in-flight saga's instance, untouched by the order's messages
      const holder = await engine.query<{ saga: string; status: string }>('select saga, status from saga_instances where saga_id = $1', [shared]);
      expect(holder.rows).toEqual([{ saga: 'order-in-flight', status: 'Running' }]);
      // And a rebuild of the whole log reports the id, naming the saga that holds it, and finds the others as the live projection has them
      const rebuilt = await sagaline(['replay', '--rebuild', '--json', ...ORDERS]);
      expect(rebuilt.code, rebuilt.stderr).toBe(1);
      const { differences } = (JSON.parse(rebuilt.stdout) as { rebuild: { differences: { sagaId: string; differences: string[] }[] } }).rebuild;
      expect(differences).toContainEqual({ sagaId: shared, differences: ['the live projection holds this id as an instance of order-in-flight (a saga id must be unique across sagas)'] });
      const differing = differences.map((d) => d.sagaId);
      for (const sagaId of [completed, compensated, nextOrder]) expect(differing).not.toContain(sagaId);
    } finally {
      await other.close();
    }
  });

  it('given an export of a saga, then verify-export passes, and fails naming the line once a payload is changed', async () => {
    const file = join(dir, 'orders.ndjson');
    const result = await sagaline(['replay', '--saga', compensated, '--export', file, ...ORDERS]);
    expect(result.code, result.stderr).toBe(0);
    const verified = await sagaline(['verify-export', file]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^ok: \d+ messages, chain intact/);
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"PaymentCharged"'));
    expect(i).toBeGreaterThan(0);
    writeFileSync(file, lines.map((l, j) => (j === i ? l.replace('"amountCents":990', '"amountCents":1') : l)).join('\n'));
    const tampered = await sagaline(['verify-export', file]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain(`line ${i + 1}`);
  });

  it('given an instance in flight under v1 and v2 given beside it, when definitions are checked, then it is listed with what v2 would change', async () => {
    const client = await sagaClient([inFlightV1, inFlightV2], { config, schemas: ORDER_SCHEMAS });
    try {
      // No participant runs for this saga: the instance stays Running under v1 (its deadlines are an hour)
      const sagaId = await client.start(inFlightV1, { orderId: uniqueName('order'), amountCents: 5 }, { tenantId: tenant });
      await settled(client, sagaId, ['Running']);
      const result = await sagaline(['definitions', 'check', '--json', ...IN_FLIGHT]);
      expect(result.code, result.stderr).toBe(0);
      const [check] = JSON.parse(result.stdout) as { saga: string; newest: number; checked: number; differing: { sagaId: string; version: number; differences: string[] }[] }[];
      expect(check).toMatchObject({ saga: 'order-in-flight', newest: 2 });
      const mine = check!.differing.find((d) => d.sagaId === sagaId);
      expect(mine, JSON.stringify(check)).toBeDefined();
      expect(mine!.version).toBe(1);
      expect(mine!.differences).toContain('steps.NOTIFY: undefined ≠ {"status":"pending","attempts":0}');
      // And a config that gives one version only has nothing to check: one clear line
      const single = await sagaline(['definitions', 'check', ...ORDERS]);
      expect(single.code).not.toBe(0);
      expect(single.stderr).toContain('nothing to check');
    } finally {
      await client.close();
    }
  });
});
