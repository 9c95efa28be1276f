/**
 * A batch of model deployment sagas running beside the training batch in the fault suites, so both
 * examples' sagas go through every fault at once; with the checks of their business tables.
 */
import { pgPool } from '../../core/clients.ts';
import { newId } from '../../core/ids.ts';
import { sagaClient, type SagaClient } from '../../processors/engine/client.ts';
import type { InstanceStatus } from '../../processors/saga/instance.ts';
import { DATABASES } from '../../examples/model-deployment/participants.ts';
import type { DeploymentRequested } from '../../examples/model-deployment/generated.ts';
import type { Outcomes, Findings } from './batch.ts';
import { config, uniqueName } from './fixtures.ts';
import { DEPLOYMENT_CONFIG, testProject } from './saga.ts';

type Levers = Pick<DeploymentRequested, 'failAt' | 'transientAt' | 'transientCount'>;
const NONE: Levers = { failAt: null, transientAt: null, transientCount: 0 };
/** A cycle of runs through, failures before the pivot (a branch, the join), and a transient failure at the pivot. */
const CYCLE: { levers: Levers; expected: InstanceStatus }[] = [
  { levers: NONE, expected: 'Completed' },
  { levers: { ...NONE, failAt: 'REGISTER' }, expected: 'Compensated' },
  { levers: NONE, expected: 'Completed' },
  { levers: { ...NONE, failAt: 'SMOKE_TEST' }, expected: 'Compensated' },
  { levers: { ...NONE, transientAt: 'SWITCH_TRAFFIC', transientCount: 2 }, expected: 'Completed' },
];

export interface DeploymentBatch {
  ids: string[];
  expected: Map<string, InstanceStatus>;
}

let client: Promise<SagaClient> | undefined;

export async function startDeploymentBatch(size: number, prefix: string): Promise<DeploymentBatch> {
  const project = await testProject(DEPLOYMENT_CONFIG);
  client ??= sagaClient(project.sagas, { config, schemas: project.schemas });
  const saga = project.sagas[0]!;
  const tenant = uniqueName(prefix);
  const batch: DeploymentBatch = { ids: [], expected: new Map() };
  for (let i = 0; i < size; i++) {
    const { levers, expected } = CYCLE[i % CYCLE.length]!;
    const sagaId = newId();
    const payload: DeploymentRequested = { deploymentId: sagaId, modelId: `${tenant}-m${i}`, version: 'v2', replicas: 2, slowAt: null, slowMs: 0, ...levers };
    await (await client).start(saga, payload, { tenantId: tenant, sagaId });
    batch.ids.push(sagaId);
    batch.expected.set(sagaId, expected);
  }
  return batch;
}

export function deploymentOutcomeProblems(batch: DeploymentBatch, outcomes: Outcomes): string[] {
  return batch.ids.flatMap((id) => {
    const got = outcomes.get(id)?.status;
    return got === batch.expected.get(id) ? [] : [`deployment ${id} ended ${got ?? 'never projected'}, expected ${batch.expected.get(id)}`];
  });
}

/** Each deployment's effects against its outcome: a completed one switched and announced once, a compensated one left nothing standing. */
export async function checkDeploymentEffects(batch: DeploymentBatch, outcomes: Outcomes): Promise<Findings> {
  const pools = Object.fromEntries(Object.entries(DATABASES).map(([k, db]) => [k, pgPool(config, db, 1)])) as Record<keyof typeof DATABASES, ReturnType<typeof pgPool>>;
  const lost: string[] = [];
  const duplicated: string[] = [];
  try {
    const rows = async (pool: keyof typeof DATABASES, sql: string) => {
      const found = new Map<string, string[]>();
      for (const r of (await pools[pool].query<{ saga_id: string; v: string }>(sql, [batch.ids])).rows) found.set(r.saga_id, [...(found.get(r.saga_id) ?? []), r.v]);
      return found;
    };
    const endpoints = await rows('serving', 'select saga_id, status as v from endpoints where saga_id = any($1)');
    const entries = await rows('catalogue', 'select saga_id, status as v from entries where saga_id = any($1)');
    const traffic = await rows('serving', 'select saga_id, endpoint_id as v from traffic where saga_id = any($1)');
    const announced = await rows('announcements', 'select saga_id, model_id as v from announcements where saga_id = any($1)');
    for (const id of batch.ids) {
      const status = outcomes.get(id)?.status;
      const all = { endpoints: endpoints.get(id) ?? [], entries: entries.get(id) ?? [], traffic: traffic.get(id) ?? [], announced: announced.get(id) ?? [] };
      for (const [what, values] of Object.entries(all)) if (values.length > 1) duplicated.push(`deployment ${id}: ${values.length} ${what} rows`);
      if (status === 'Completed') {
        const missing = Object.entries({ endpoint: all.endpoints[0] === 'provisioned', entry: all.entries[0] === 'listed', traffic: all.traffic.length === 1, announcement: all.announced.length === 1 }).filter(([, ok]) => !ok).map(([w]) => w);
        if (missing.length) lost.push(`deployment ${id} completed without its ${missing.join(', ')}: ${JSON.stringify(all)}`);
      } else if (status === 'Compensated') {
        if (all.endpoints.includes('provisioned') || all.entries.includes('listed') || all.traffic.length || all.announced.length) lost.push(`deployment ${id} compensated but left something standing (an undo lost): ${JSON.stringify(all)}`);
      }
    }
  } finally {
    for (const pool of Object.values(pools)) await pool.end();
  }
  return { lost, duplicated };
}
