/**
 * The deployment saga's four services, each step beside its compensation, each in its own
 * database. Levers in the start message (failAt, transientAt/transientCount, slowAt/slowMs) make
 * a step fail, fail transiently or answer late, so tests and demos travel the real path.
 */
import { fail, ok, participant, TransientError, type Participant, type SagaDefinition, type StepInput } from '../../index.ts';
import type { DeploymentRequested, EndpointProvisioned, EndpointRegistered } from './generated.ts';

export const DATABASES = { registry: 'deploy_registry', serving: 'deploy_serving', catalogue: 'deploy_catalogue', announcements: 'deploy_announcements' } as const;

const request = (input: Pick<StepInput, 'saga'>): DeploymentRequested => input.saga.start.payload as DeploymentRequested;

/** What the levers ask of this step, before it does its work: throw to retry, or the reason to fail. */
function levers(input: StepInput): string | undefined {
  const r = request(input);
  if (r.transientAt === input.step && input.attempt <= r.transientCount) throw new TransientError(`${input.step} unavailable (attempt ${input.attempt})`);
  if (r.slowAt === input.step && Date.now() - Date.parse(input.saga.startedAt) < r.slowMs) throw new TransientError(`${input.step} still busy`);
  return r.failAt === input.step ? `${input.step} refused (lever)` : undefined;
}

/** model-registry: the version exists and may be deployed (nothing to undo: it only reads and records the check). */
export function modelRegistry(saga: SagaDefinition): Participant {
  return participant(saga, 'model-registry', {
    database: DATABASES.registry,
    ddl: ['create table if not exists validations (saga_id text primary key, model_id text not null, version text not null, checked_at timestamptz not null default now())'],
    steps: {
      VALIDATE: {
        async act(input) {
          const refused = levers(input);
          if (refused) return fail(refused);
          const { modelId, version, replicas } = request(input);
          if (replicas < 1) return fail(`replicas must be at least 1, got ${replicas}`);
          await input.tx.query('insert into validations (saga_id, model_id, version) values ($1, $2, $3)', [input.saga.sagaId, modelId, version]);
          return ok({ modelId, version });
        },
      },
    },
  });
}

/** serving: provisions the endpoint (torn down as a compensation), smoke-tests it, switches the model's traffic to it. */
export function serving(saga: SagaDefinition): Participant {
  return participant(saga, 'model-serving', {
    database: DATABASES.serving,
    ddl: [
      `create table if not exists endpoints (
         endpoint_id text primary key, saga_id text not null unique, model_id text not null, version text not null, replicas int not null,
         status text not null check (status in ('provisioned', 'torn-down')), created_at timestamptz not null default now(), torn_down_at timestamptz)`,
      'create table if not exists traffic (model_id text primary key, endpoint_id text not null, saga_id text not null, switched_at timestamptz not null default now())',
    ],
    steps: {
      PROVISION: {
        async act(input) {
          const refused = levers(input);
          if (refused) return fail(refused);
          const { modelId, version, replicas } = request(input);
          const endpointId = `ep-${input.saga.sagaId}`;
          await input.tx.query("insert into endpoints (endpoint_id, saga_id, model_id, version, replicas, status) values ($1, $2, $3, $4, $5, 'provisioned')", [endpointId, input.saga.sagaId, modelId, version, replicas]);
          return ok({ endpointId, replicas });
        },
        async compensate(input) {
          const { endpointId } = input.result as EndpointProvisioned;
          await input.tx.query("update endpoints set status = 'torn-down', torn_down_at = clock_timestamp() where endpoint_id = $1", [endpointId]);
          return ok({ endpointId });
        },
      },
      SMOKE_TEST: {
        async act(input) {
          const refused = levers(input);
          return refused ? fail(refused) : ok({ latencyMs: 12 });
        },
      },
      SWITCH_TRAFFIC: {
        async act(input) {
          const refused = levers(input);
          if (refused) return fail(refused);
          const { modelId } = request(input);
          const { endpointId } = input.saga.steps.PROVISION!.result as EndpointProvisioned;
          const previous = (await input.tx.query('select endpoint_id from traffic where model_id = $1 for update', [modelId])).rows[0]?.endpoint_id ?? null;
          await input.tx.query(
            'insert into traffic (model_id, endpoint_id, saga_id) values ($1, $2, $3) on conflict (model_id) do update set endpoint_id = excluded.endpoint_id, saga_id = excluded.saga_id, switched_at = now()',
            [modelId, endpointId, input.saga.sagaId],
          );
          return ok({ endpointId, previousEndpointId: previous });
        },
      },
    },
  });
}

/** model-catalogue: lists the endpoint for the model version; the entry is removed as a compensation. */
export function modelCatalogue(saga: SagaDefinition): Participant {
  return participant(saga, 'model-catalogue', {
    database: DATABASES.catalogue,
    ddl: [
      `create table if not exists entries (
         entry_id text primary key, saga_id text not null unique, model_id text not null, version text not null,
         status text not null check (status in ('listed', 'removed')), listed_at timestamptz not null default now(), removed_at timestamptz)`,
    ],
    steps: {
      REGISTER: {
        async act(input) {
          const refused = levers(input);
          if (refused) return fail(refused);
          const { modelId, version } = request(input);
          const entryId = `entry-${input.saga.sagaId}`;
          await input.tx.query("insert into entries (entry_id, saga_id, model_id, version, status) values ($1, $2, $3, $4, 'listed')", [entryId, input.saga.sagaId, modelId, version]);
          return ok({ entryId });
        },
        async compensate(input) {
          const { entryId } = input.result as EndpointRegistered;
          await input.tx.query("update entries set status = 'removed', removed_at = clock_timestamp() where entry_id = $1", [entryId]);
          return ok({ entryId });
        },
      },
    },
  });
}

/** announcements: tells the model's subscribers (after the pivot: retried forward only). */
export function announcements(saga: SagaDefinition): Participant {
  return participant(saga, 'announcements', {
    database: DATABASES.announcements,
    ddl: ['create table if not exists announcements (saga_id text primary key, model_id text not null, version text not null, sent_at timestamptz not null default now())'],
    steps: {
      ANNOUNCE: {
        async act(input) {
          const refused = levers(input);
          if (refused) return fail(refused);
          const { modelId, version } = request(input);
          await input.tx.query('insert into announcements (saga_id, model_id, version) values ($1, $2, $3)', [input.saga.sagaId, modelId, version]);
          return ok({ subscribers: 3 });
        },
      },
    },
  });
}

export function deploymentParticipants(saga: SagaDefinition): Participant[] {
  return [modelRegistry(saga), serving(saga), modelCatalogue(saga), announcements(saga)];
}
