/**
 * The web UI in a real browser: Debian's headless Chromium, driven by puppeteer-core, against a
 * `sagaline serve` process on the real stack, with the order saga's participants and monitor
 * running in this process. List and filter, find a saga by id from the keyboard, its diagram and
 * timeline, cancel a running saga behind a confirmation and watch it compensate without reloading,
 * and redrive a dead letter.
 *
 * The saga page of the compensated saga is saved as a screenshot: to docs/ui-saga.png when
 * SAGALINE_UI_SCREENSHOT=docs (how the committed one is made), else to the system's temp directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, pgPool } from '../core/clients.ts';
import { PROJECT_ROOT } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, sagaTopic, SAGAS_DATABASE, type SagaClient, type SagaRecord } from '../index.ts';
import { skipParked } from '../processors/engine/parked.ts';
import type { Project } from '../processors/engine/project.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment, type OrderPlaced } from './fixtures/order-saga/saga.ts';
import { freePorts } from './support/cli.ts';
import { ORDER_CONFIG } from './support/messages.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { apiToken } from './support/tokens.ts';

const CHROMIUM = process.env.SAGALINE_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.SAGALINE_UI_SCREENSHOT === 'docs' ? join(PROJECT_ROOT, 'docs', 'ui-saga.png') : join(tmpdir(), 'sagaline-ui-saga.png');
const logger = createLogger({ logLevel: 'warn' }, 'ui');
const tenant = uniqueName('ui');
const topic = sagaTopic(orderFulfilment).name;
const running: { stop(): Promise<void> }[] = [];
let client: SagaClient;
let api: ChildProcess | undefined;
let apiStderr = '';
let base = '';
let browser: Browser;
let page: Page;
let producer: Producer;

const place = (levers: Partial<OrderPlaced> = {}) => client.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 900, ...levers }, { tenantId: tenant });
const recordOf = (sagaId: string, what: string, ok: (r: SagaRecord) => boolean) =>
  waitFor(what, async () => {
    const r = await client.get(sagaId);
    return r && ok(r) ? r : undefined;
  }, { timeoutMs: 90_000 });

/** Text of every element matching `selector`, in page order. */
const texts = (selector: string) => page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').trim()));
/** Waits until the page shows what `check` looks for, reading it the way a user would. */
const untilShown = <T>(what: string, check: () => Promise<T | undefined | false>) => waitFor(what, async () => (await check()) || undefined, { timeoutMs: 60_000, intervalMs: 250 });
const engine = pgPool(config, SAGAS_DATABASE, 1);
/** Cancels the engine's outbox holds for a saga: where the action is written first (the monitor's own timeouts go there too). */
const cancelsWritten = async (sagaId: string) => (await engine.query<{ n: number }>("select count(*)::int as n from outbox where saga_id = $1 and type = 'SagaCancelRequested'", [sagaId])).rows[0]!.n;
const project: Project = { file: ORDER_CONFIG, schemas: ORDER_SCHEMAS, sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, streams: {} };
const payments = pgPool(config, 'orders_payments', 1);
const held: string[] = [];
/**
 * A saga held Running: its charge hits a bug the test plants, so payments parks it and the saga waits
 * for the charge until its 15 s deadline — time enough for a page to open and act, however loaded the machine.
 */
async function heldSaga(): Promise<string> {
  const sagaId = uniqueName('held');
  await payments.query('insert into faults (saga_id) values ($1)', [sagaId]);
  held.push(sagaId);
  await client.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 900, brokenAt: 'CHARGE' }, { tenantId: tenant, sagaId });
  return sagaId;
}
const rowIds = () => page.$$eval('#sagas tbody tr[data-saga]', (rows) => rows.map((r) => r.getAttribute('data-saga')));

describe('the web UI, in a real browser', () => {
  let completed = '';
  let compensated = '';

  beforeAll(async () => {
    accessSync(CHROMIUM, constants.X_OK); // Debian's chromium: infra/install-prerequisites.sh installs it
    await provisionSagas(config, { sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, schemas: ORDER_SCHEMAS });
    running.push(await runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger }));
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    client = await sagaClient([orderFulfilment], { config, schemas: ORDER_SCHEMAS });
    const kafka = kafkaClient(config, uniqueName('ui-test'));
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();

    // The API (and so the UI) as `sagaline serve`, its own process
    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', ORDER_CONFIG, '--port', String(port)], { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    api.stderr!.setEncoding('utf8').on('data', (chunk: string) => (apiStderr = (apiStderr + chunk).slice(-5_000)));
    await waitFor('sagaline serve to answer GET /health/live', async () => (await fetch(`${base}/health/live`).catch(() => undefined))?.ok, {
      timeoutMs: 60_000,
      abortIf: () => {
        if (api!.exitCode !== null) throw new SagalineError('API_EXITED', `sagaline serve exited with ${api!.exitCode}:\n${apiStderr}`);
      },
    });

    // Chromium as root needs --no-sandbox (no user namespace sandbox for root).
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });

    // Given a saga that completed and one that was compensated, for this test's tenant
    [completed, compensated] = await Promise.all([place(), place({ failAt: 'RESERVE_STOCK' })]);
    await recordOf(completed, `saga ${completed} to complete`, (r) => r.status === 'Completed');
    await recordOf(compensated, `saga ${compensated} to be compensated`, (r) => r.status === 'Compensated');
  });

  afterAll(async () => {
    await browser?.close();
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api!.once('exit', resolve));
      api.kill('SIGTERM');
      await exited;
    }
    await producer?.disconnect();
    // The held sagas' charges stay parked at payments: skipped, with their planted bugs removed
    for (const sagaId of held) {
      await payments.query('delete from faults where saga_id = $1', [sagaId]);
      await skipParked(config, project, sagaId, 'payments', { by: 'the test', reason: 'cleaning up' }).catch(() => undefined);
    }
    await client?.close();
    for (const r of running.reverse()) await r.stop();
    await engine.end();
    await payments.end();
  });

  it("given no token in the tab, when the UI opens, then it asks for one; when an operator's token is entered, then the view loads with it", async () => {
    await page.goto(`${base}/ui#/sagas?tenant=${tenant}`);
    await untilShown('the token form', async () => (await page.$('form.token #api-token')) !== null);
    expect((await texts('form.token [role=alert]'))[0]).toContain('no Authorization header');
    await page.type('#api-token', await apiToken({ role: 'operator', label: 'ui test' }));
    await page.click('form.token button[type=submit]');
    const ids = await untilShown('the sagas listed once the token is in', async () => {
      const rows = await rowIds();
      return rows.length === 2 && rows;
    });
    expect(new Set(ids)).toEqual(new Set([completed, compensated]));
    expect(await page.$('form.token')).toBeNull();
  });

  it('given two sagas of one tenant, when the list is filtered by tenant and then by state from the form, then it shows both, then only the compensated one', async () => {
    // When filtered by tenant (as a link would)
    await page.goto(`${base}/ui#/sagas?tenant=${tenant}`);
    const both = await untilShown('both sagas listed', async () => {
      const ids = await rowIds();
      return ids.length === 2 && ids;
    });
    // Then newest first, each with its state
    expect(new Set(both)).toEqual(new Set([completed, compensated]));
    expect(await page.$eval(`tr[data-saga="${compensated}"] .badge`, (e) => e.textContent)).toBe('Compensated');
    expect(await page.$eval(`tr[data-saga="${completed}"] .badge`, (e) => e.textContent)).toBe('Completed');

    // When the state is chosen in the form, from the keyboard, and applied
    await page.focus('#filters select[name="status"]');
    await page.select('#filters select[name="status"]', 'Compensated');
    await page.focus('#filters input[name="tenant"]');
    await page.keyboard.press('Enter');

    // Then only the compensated saga, and the filters are in the address
    await untilShown('only the compensated saga listed', async () => (await rowIds()).join() === compensated);
    expect(new URL(page.url()).hash).toBe(`#/sagas?status=Compensated&tenant=${tenant}`);

    // And a time range that ends before the sagas started shows none of them
    await page.goto(`${base}/ui#/sagas?tenant=${tenant}&to=${encodeURIComponent('2020-01-01T00:00:00Z')}`);
    await untilShown('no saga before 2020', async () => (await texts('#sagas tbody td')).join() === 'No saga matches.');
  });

  it('given a compensated saga, when its id is searched from the keyboard, then its page shows the diagram coloured by step status, the pivot, and the timeline with payloads on demand', async () => {
    // When: "/" focuses the search from any view; the id, Enter
    await page.goto(`${base}/ui#/stuck`);
    await page.waitForSelector('h1');
    await page.keyboard.press('/');
    await untilShown('the search field focused', () => page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id === 'saga-id'));
    await page.keyboard.type(compensated);
    await page.keyboard.press('Enter');

    // Then the diagram: both parallel steps drawn side by side, the pivot marked, each coloured by its status
    await page.waitForSelector('#diagram svg g[data-step]');
    expect(await page.$eval('h1', (e) => e.textContent)).toBe(compensated);
    const steps = await page.$$eval('#diagram g[data-step]', (gs) =>
      gs.map((g) => {
        const rect = g.querySelector('rect')!;
        return { step: g.getAttribute('data-step'), status: g.getAttribute('data-status'), x: Number(rect.getAttribute('x')), fill: rect.getAttribute('fill') };
      }),
    );
    expect(steps.map((s) => [s.step, s.status])).toEqual([['CHARGE', 'compensated'], ['RESERVE_STOCK', 'failed'], ['SHIP', 'pending'], ['CONFIRM', 'pending']]);
    expect(steps[0]!.x).toBe(steps[1]!.x); // one level: they run at once
    expect(steps[2]!.x).toBeGreaterThan(steps[0]!.x);
    expect(new Set(steps.map((s) => s.fill)).size).toBe(3); // compensated, failed, pending: three colours
    expect(await page.$eval('#diagram g[data-step="SHIP"]', (g) => g.textContent)).toContain('PIVOT');
    expect(await page.$eval('#saga-status', (e) => e.textContent)).toBe('Compensated');

    // And the timeline from the log: the start, each answer, the undoing
    const types = await untilShown('the timeline read from the log', async () => {
      const t = await page.$$eval('#timeline tbody tr', (rows) => rows.map((r) => r.getAttribute('data-type')));
      return t.includes('StockUnavailable') && t.includes('PaymentRefunded') && t;
    });
    expect(types[0]).toBe('SagaStarted');
    expect(types).toEqual(expect.arrayContaining(['OrderPlaced', 'PaymentCharged', 'StockUnavailable', 'PaymentRefunded']));
    expect(types.indexOf('PaymentRefunded')).toBeGreaterThan(types.indexOf('StockUnavailable'));
    const position = (await texts('#timeline tbody tr:first-child td'))[1]!;
    expect(position).toMatch(new RegExp(`^${topic.replaceAll('.', '\\.')}/\\d+@\\d+$`));
    // The payload is not in the page until asked for
    const placed = await page.$('#timeline tbody tr[data-type="OrderPlaced"]');
    expect(await placed!.$('pre')).toBeNull();
    await (await placed!.$('summary'))!.focus();
    await page.keyboard.press('Enter');
    const pre = await placed!.waitForSelector('pre', { timeout: 10_000 }); // the toggle event comes as a task of its own
    const payload = JSON.parse(await pre!.evaluate((e) => e.textContent ?? '')) as OrderPlaced;
    expect(payload).toMatchObject({ amountCents: 900, failAt: 'RESERVE_STOCK' });

    // And neither action is offered to an ended saga
    expect(await page.$$eval('#cancel-saga, #retry-compensation', (bs) => bs.map((b) => [b.textContent, (b as unknown as { disabled: boolean }).disabled]))).toEqual([['Cancel saga…', true], ['Retry compensation…', true]]);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('given a running saga, when the cancel is backed out of, or confirmed without a reason or with only spaces, then the dialog says so and nothing is written', async () => {
    // Given a running saga's page
    const sagaId = await heldSaga();
    await page.goto(`${base}/ui#/saga/${encodeURIComponent(sagaId)}`);
    await page.waitForSelector('#cancel-saga:not([disabled])', { timeout: 60_000 });

    // When backed out of (Escape)
    await page.click('#cancel-saga');
    await page.waitForSelector('dialog[open]');
    expect(await page.$eval('dialog label.force', (e) => (e as unknown as { offsetParent: unknown }).offsetParent)).toBeNull(); // no "force" for a cancel
    await page.keyboard.press('Escape');
    await untilShown('the dialog closed', async () => (await page.$('dialog[open]')) === null);

    // When confirmed without a reason, then with only spaces: the dialog stays open
    await page.click('#cancel-saga');
    await page.waitForSelector('dialog[open]');
    await page.click('#confirm-ok');
    expect(await page.$('dialog[open]')).not.toBeNull();
    await page.type('dialog textarea[name="reason"]', '   ');
    await page.click('#confirm-ok');
    expect(await page.$('dialog[open]')).not.toBeNull();
    expect(await page.$eval('dialog textarea[name="reason"]', (e) => (e as unknown as { validationMessage: string }).validationMessage)).toBe('Give a reason: it is recorded in the saga’s log.');
    await page.click('dialog button[value="back"]');
    await untilShown('the dialog closed', async () => (await page.$('dialog[open]')) === null);

    // Then nothing was written for the saga (the engine's outbox is where an action goes first)
    expect(await cancelsWritten(sagaId)).toBe(0);
  });

  it('given a running saga, when cancelled from its page with a reason and confirmed, then the open page follows it to Compensated without reloading', async () => {
    // Given a saga held Running, its page open
    const sagaId = await heldSaga();
    await page.goto(`${base}/ui#/saga/${encodeURIComponent(sagaId)}`);
    await page.waitForSelector('#cancel-saga:not([disabled])', { timeout: 60_000 });
    await page.evaluate(() => ((globalThis as unknown as { sameDocument: boolean }).sameDocument = true));

    // When
    await page.click('#cancel-saga');
    await page.waitForSelector('dialog[open]');
    await page.type('dialog textarea[name="reason"]', 'customer changed their mind');
    await page.click('#confirm-ok');

    // Then the request was taken, and the same page, never reloaded, shows it Compensated, and the cancel in its timeline
    await untilShown('the cancel to be taken', async () => (await page.$eval('#toast', (e) => e.textContent ?? '')).startsWith('Cancel requested'));
    await untilShown('the page to show Compensated', async () => (await page.$eval('#saga-status', (e) => e.textContent)) === 'Compensated');
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await untilShown('the cancel in the timeline', async () => (await page.$('#timeline tr[data-type="SagaCancelRequested"]')) !== null);
    expect(await page.$eval('#saga-reason', (e) => e.textContent)).toBe('cancelled by web-ui: customer changed their mind');
    expect(await page.$eval('#diagram g[data-step="RESERVE_STOCK"]', (g) => g.getAttribute('data-status'))).toBe('compensated');
    expect(await page.$eval('#cancel-saga', (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);
    const record = await client.get(sagaId);
    expect(record).toMatchObject({ status: 'Compensated', state: { reason: 'cancelled by web-ui: customer changed their mind' } });
  });

  it('given a record no group could decode, when it is selected and redriven from the dead-letter view, then it shows once with every group that failed, and the redrive with who and why', async () => {
    // Given
    const sagaId = uniqueName('poison');
    await producer.send({ topic, messages: [{ key: sagaId, value: 'not avro', headers: { id: newId(), eventType: 'OrderPlaced', sagaId } }] });
    await page.goto(`${base}/ui#/dead-letters?saga=${encodeURIComponent(sagaId)}`);
    const groups = ORDER_PARTICIPANTS.length + 1; // each participant and the monitor
    const row = await untilShown('one dead letter naming every group', async () => {
      const rows = await page.$$eval('#dead-letters tbody tr', (trs) => trs.map((tr) => ({ at: tr.getAttribute('data-position'), groups: tr.children[4]!.textContent!.split(', ') })));
      return rows.length === 1 && rows[0]!.groups.length === groups && rows[0];
    });

    // When selected and redriven
    expect(await page.$eval('#redrive', (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);
    await page.click(`tr[data-position="${row.at}"] input[type="checkbox"]`);
    await page.click('#redrive');
    await page.waitForSelector('dialog[open]');
    await page.type('dialog textarea[name="reason"]', 'decoder fixed');
    await page.click('#confirm-ok');

    // Then the toast says where it went, and the entry shows the redrive (its copy fails again: a new entry pointing back)
    await untilShown('the redrive reported', async () => (await page.$eval('#toast', (e) => e.textContent ?? '')).startsWith(`Redriven: ${row.at} → `));
    await untilShown('the entry to show its redrive', async () => (await texts(`tr[data-position="${row.at}"] td`))[7]?.endsWith('by web-ui: decoder fixed'));
    await untilShown('the copy dead-lettered again, pointing back', async () => (await texts('#dead-letters tbody td')).some((t) => t.includes(`copy of ${row.at}`)));
  });
});
