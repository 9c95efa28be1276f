/**
 * The two-phase commit coordinator against the real stack: every scenario of the training
 * example's `update_model` (`npm run example:2pc`; the crash scenarios kill a real `sagaline 2pc
 * run` process with SIGKILL), the databases checked afterwards, no prepared transaction left
 * behind, and the outbox messages on the example's stream for the committed transactions only.
 * Then the HTTP endpoints, and `sagaline pattern`.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../api/server.ts';
import { pgPool } from '../core/clients.ts';
import { ENGINE_DATABASE } from '../core/config.ts';
import type { TransactionRecord } from '../coordinator/log.ts';
import { provisionSagas } from '../infra/provision-sagas.ts';
import { streamTopic } from '../topics/derived.ts';
import { addModel, MODEL_DATABASE } from '../examples/ml-training/models.ts';
import { AUDIT_DATABASE } from '../examples/ml-training/participants.ts';
import type { Scenario } from '../examples/ml-training/two-phase-commit-demo.ts';
import { MODEL_VERSIONS_STREAM, UPDATE_MODEL_ACTIONS, updateModelParticipants } from '../examples/ml-training/update-model.ts';
import { npmRun, sagaline } from './support/cli.ts';
import { testProject } from './support/saga.ts';
import { consumeUntil, endOffsets, type Offsets } from './support/consume.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { apiToken, bearer } from './support/tokens.ts';

const sagalineDb = pgPool(config, ENGINE_DATABASE, 2);
const modelDb = pgPool(config, MODEL_DATABASE, 2);
const auditDb = pgPool(config, AUDIT_DATABASE, 2);
const TOPICS = [streamTopic(MODEL_VERSIONS_STREAM, []).name];

interface DemoJson {
  scenario: Scenario;
  txId: string;
  outcome: 'committed' | 'aborted' | 'unfinished';
  participants: { name: string; state: string; vote: string | null }[];
  preparedLeft: number;
  reason: string | null;
  modelId: string;
}

const committed: string[] = [];
const aborted: string[] = [];
let from: Offsets;

async function demo(scenario: Scenario): Promise<DemoJson> {
  const res = await npmRun('example:2pc', ['--scenario', scenario, '--json'], {}, 120_000);
  expect(res.code, res.stderr.slice(-2_000)).toBe(0);
  return JSON.parse(res.stdout) as DemoJson;
}

async function anyPreparedLeft(): Promise<number> {
  return (await sagalineDb.query("select count(*)::int as n from pg_prepared_xacts where gid like 'sagaline_2pc:%'")).rows[0].n as number;
}

async function databases(result: { txId: string; modelId: string }) {
  return {
    version: (await modelDb.query('select version from models where model_id = $1', [result.modelId])).rows[0]?.version as string,
    audit: (await auditDb.query('select count(*)::int as n from model_version_audit where transaction_id = $1', [result.txId])).rows[0].n as number,
    modelOutbox: (await modelDb.query('select count(*)::int as n from outbox where saga_id = $1', [result.txId])).rows[0].n as number,
    auditOutbox: (await auditDb.query('select count(*)::int as n from outbox where saga_id = $1', [result.txId])).rows[0].n as number,
  };
}

async function expectCommitted(result: DemoJson): Promise<void> {
  expect(result.outcome).toBe('committed');
  expect(result.participants.map((p) => [p.name, p.state])).toEqual([['model-service', 'Committed'], ['audit-service', 'Committed']]);
  expect(await databases(result)).toEqual({ version: 'v2', audit: 1, modelOutbox: config.relay === 'debezium' ? 1 : expect.any(Number), auditOutbox: config.relay === 'debezium' ? 1 : expect.any(Number) });
  committed.push(result.txId);
}

async function expectAborted(result: DemoJson): Promise<void> {
  expect(result.outcome).toBe('aborted');
  expect(result.participants.map((p) => [p.name, p.state])).toEqual([['model-service', 'Aborted'], ['audit-service', 'Aborted']]);
  expect(await databases(result)).toEqual({ version: 'v1', audit: 0, modelOutbox: 0, auditOutbox: 0 });
  aborted.push(result.txId);
}

afterAll(async () => {
  await Promise.all([sagalineDb.end(), modelDb.end(), auditDb.end()]);
});

describe('two-phase commit across the training example’s model and audit services', () => {
  beforeAll(async () => {
    // The training example with its stream: what the actions write to
    await provisionSagas(config, await testProject());
    from = await endOffsets(TOPICS);
  });

  it('all participants vote yes → committed in every database', async () => {
    // When
    const result = await demo('ok');
    // Then
    await expectCommitted(result);
    expect(result.preparedLeft).toBe(0);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('a participant votes no (model reserved for training) → rolled back in every database', async () => {
    const result = await demo('vote-no');
    await expectAborted(result);
    expect(result.participants[0]!.vote).toBe('no');
    expect(result.reason).toMatch(/reserved for training/);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('a participant does not vote in time → rolled back in every database', async () => {
    // Given another session holds the model's row lock past the phase-1 deadline (in the demo)
    const result = await demo('timeout');
    // Then the late participant counts as a no, the prepared one is rolled back
    await expectAborted(result);
    expect(result.participants.map((p) => p.vote)).toEqual(['timeout', 'yes']);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('the coordinator killed with SIGKILL before the decision → rolled back everywhere after restart', async () => {
    const result = await demo('crash-before-decision');
    await expectAborted(result);
    expect(result.participants.map((p) => p.vote)).toEqual(['yes', 'yes']);
    expect(result.reason).toMatch(/presumed abort/);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('the coordinator killed with SIGKILL after logging commit → committed everywhere after restart', async () => {
    const result = await demo('crash-after-decision');
    await expectCommitted(result);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('a participant unreachable during phase 2 → committed once it is back', async () => {
    const result = await demo('participant-down');
    await expectCommitted(result);
    expect(await anyPreparedLeft()).toBe(0);
  });

  it('published the messages of committed transactions, once each, and nothing of aborted ones', async () => {
    // Given every scenario ran (the last one committed): each topic is delivered in commit order per database
    const wanted = new Set(committed);
    const seen = (received: { headers: Record<string, string> }[], type: string) =>
      new Set(received.filter((r) => r.headers.eventType === type && wanted.has(r.headers.sagaId ?? '')).map((r) => r.headers.sagaId));
    // When reading both topics from before the first scenario
    const received = await consumeUntil(
      TOPICS,
      'the messages of every committed transaction',
      (r) => seen(r, 'ModelVersionChanged').size === wanted.size && seen(r, 'ModelVersionAudited').size === wanted.size,
      { from, timeoutMs: 90_000 },
    );
    // Then
    expect(committed).toHaveLength(3);
    for (const txId of committed) {
      expect(received.filter((r) => r.headers.sagaId === txId).map((r) => r.headers.eventType).sort(), txId).toEqual(['ModelVersionAudited', 'ModelVersionChanged']);
    }
    expect(aborted).toHaveLength(3);
    expect(received.filter((r) => aborted.includes(r.headers.sagaId ?? ''))).toEqual([]);
  });
});

describe('two-phase commit over HTTP', () => {
  let app: ReturnType<typeof buildApi>;
  let token = '';
  beforeAll(async () => {
    token = await apiToken();
    const project = await testProject();
    app = buildApi(config, { project, client: () => Promise.reject(new Error('no saga is started here')) }, { logger: pino({ level: 'silent' }), twoPhaseCommitActions: UPDATE_MODEL_ACTIONS });
  });
  const tenantId = uniqueName('tenant');
  afterAll(async () => {
    await app.close();
  });

  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.json() as TransactionRecord & { error?: { code: string } } };
  };

  it('creates, adds participants, prepares, commits and reports the status', async () => {
    // Given a model
    const models = pgPool(config, MODEL_DATABASE, 1);
    const modelId = uniqueName('model');
    await addModel(models, { tenantId, modelId, version: 'v1' });
    const [model, audit] = updateModelParticipants({ tenantId, modelId, version: 'v7' });
    // When
    const created = await call('POST', '/2pc/transactions', { operation: 'update_model', participants: [model] });
    expect(created.status).toBe(201);
    const txId = created.body.txId;
    expect((await call('POST', `/2pc/transactions/${txId}/participants`, audit)).status).toBe(201);
    const prepared = await call('POST', `/2pc/transactions/${txId}/prepare`);
    expect(prepared.body.state).toBe('Prepared');
    expect((await call('POST', `/2pc/transactions/${txId}/participants`, { ...audit, name: 'late' })).status).toBe(409);
    expect((await sagalineDb.query('select count(*)::int as n from pg_prepared_xacts where gid like $1', [`sagaline_2pc:${txId}:%`])).rows[0].n).toBe(2);
    const done = await call('POST', `/2pc/transactions/${txId}/commit`);
    // Then
    expect(done.status).toBe(200);
    expect(done.body.state).toBe('Committed');
    const status = await call('GET', `/2pc/transactions/${txId}`);
    expect(status.body.participants.map((p) => p.state)).toEqual(['Committed', 'Committed']);
    expect((await models.query('select version from models where model_id = $1', [modelId])).rows[0].version).toBe('v7');
    expect((await call('POST', `/2pc/transactions/${txId}/abort`)).status).toBe(409);
    await models.end();
  });

  it('aborts a prepared transaction on request and answers 404 for an unknown one', async () => {
    const models = pgPool(config, MODEL_DATABASE, 1);
    const modelId = uniqueName('model');
    await addModel(models, { tenantId, modelId, version: 'v1' });
    const created = await call('POST', '/2pc/transactions', { operation: 'update_model', participants: updateModelParticipants({ tenantId, modelId, version: 'v2' }) });
    const txId = created.body.txId;
    expect((await call('POST', `/2pc/transactions/${txId}/prepare`)).body.state).toBe('Prepared');
    const aborted = await call('POST', `/2pc/transactions/${txId}/abort`);
    expect(aborted.body.state).toBe('Aborted');
    expect((await sagalineDb.query('select count(*)::int as n from pg_prepared_xacts where gid like $1', [`sagaline_2pc:${txId}:%`])).rows[0].n).toBe(0);
    expect((await models.query('select version from models where model_id = $1', [modelId])).rows[0].version).toBe('v1');
    expect((await call('GET', '/2pc/transactions/tx-unknown')).status).toBe(404);
    expect((await call('POST', '/2pc/transactions', { participants: [{ name: 'x', database: MODEL_DATABASE, action: 'nope', params: {} }] })).status).toBe(400);
    await models.end();
  });
});

describe('sagaline pattern', () => {
  it('prints the choice and why', async () => {
    const strong = await sagaline(['pattern', '--consistency', 'strong', '--duration-ms', '200', '--participants', '2']);
    expect(strong.code).toBe(0);
    expect(strong.stdout).toMatch(/^two-phase-commit\n/);
    const eventual = await sagaline(['pattern', '--consistency', 'eventual', '--duration-ms', '3600000', '--participants', '4', '--json']);
    expect(JSON.parse(eventual.stdout).pattern).toBe('saga');
    const long = await sagaline(['pattern', '--consistency', 'strong', '--duration-ms', '60000', '--participants', '6']);
    expect(long.stdout).toMatch(/^reconciliation\n/);
    const bad = await sagaline(['pattern', '--consistency', 'strong', '--duration-ms', 'soon', '--participants', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--duration-ms/);
  });
});
