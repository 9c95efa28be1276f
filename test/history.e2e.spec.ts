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
import { pgPool } from '../core/clients.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, SAGAS_DATABASE, type SagaClient } from '../index.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment, type OrderPlaced } from './fixtures/order-saga/saga.ts';
import { inFlightV1, inFlightV2 } from './fixtures/order-saga/in-flight.config.ts';
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
