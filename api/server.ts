/**
 * The HTTP API (`sagaline serve`): start training sagas, read them from the saga-state projection
 * and their history from the event log, the stack's health, and Prometheus metrics for the whole
 * pipeline. JSON in and out; every error is `{"error":{"code","message"}}`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { auditSaga } from '../audit/timeline.ts';
import { kafkaClient, pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { MessageValidationError, SagalineError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { Stack } from '../infra/stack/stack.ts';
import { inspectDelivery } from '../outbox-connector/delivery-health.ts';
import { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { getSaga, listSagas } from '../processors/saga-state/queries.ts';
import { DATABASE as SAGA_STATE_DATABASE } from '../processors/saga-state/service.ts';
import { requestTraining } from '../processors/training-requests/request.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { errorResponse } from './errors.ts';
import { healthReport } from './health.ts';
import { fetchConsumerLag, fetchSagaCounts, probeProcessors, scrapeRegistry } from './metrics.ts';
import { parseListQuery, TRAINING_REQUEST_SCHEMA, type TrainingRequestBody } from './requests.ts';
import type { ActionRegistry } from '../coordinator/actions.ts';
import { registerTwoPhaseCommitRoutes } from './two-phase-commit-routes.ts';
import type { SagaClient } from '../processors/engine/client.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';

/** One log line per request, when it completes; failures are logged where they are handled. */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(_error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  }
}

export interface ApiOptions {
  logger?: Logger;
  /** How long `GET /sagas/:id/events` may take to read the saga's partitions of the log. */
  auditTimeoutMs?: number;
  /** The two-phase commit participant actions `POST /2pc/…` may name (default none: every participant is refused). */
  twoPhaseCommitActions?: ActionRegistry;
  /** A project's own sagas: `POST /sagas/{name}` starts one, `GET /sagas/{name}/{id}` reads one. */
  definedSagas?: DefinedSagas;
}

export interface DefinedSagas {
  sagas: readonly SagaDefinition[];
  /** Made on first use (the registry may be down when the API starts). */
  client: () => Promise<SagaClient>;
}

const START_BODY_SCHEMA = {
  type: 'object',
  required: ['tenantId', 'payload'],
  additionalProperties: false,
  properties: {
    tenantId: { type: 'string', minLength: 1, maxLength: 200 },
    sagaId: { type: 'string', minLength: 1, maxLength: 200 },
    payload: { type: 'object' },
  },
} as const;

/** The API's Fastify instance, logging through the project's pino logger. */
export type Api = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export function buildApi(config: Config, options: ApiOptions = {}): Api {
  const log = options.logger ?? createLogger(config, 'api');
  const app = Fastify({
    loggerInstance: log,
    logController: new OneLinePerRequest(),
    bodyLimit: 64 * 1024,
    // Strict bodies: no silently dropped properties, no "42" accepted for a string; `verbose` lets
    // the error name the offending value.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, verbose: true } },
  });
  const pool = pgPool(config, SAGA_STATE_DATABASE, 4, (err) => log.warn({ err: err.message }, 'idle database connection lost; the pool reconnects on demand'));
  const kafka = kafkaClient(config, 'sagaline-api', { connectionTimeout: 3_000, retry: { retries: 1 } });
  let writer: Promise<OutboxWriter> | undefined;
  const outboxWriter = () => {
    writer ??= OutboxWriter.create(config.schemaRegistryUrl, loadContracts()).catch((err: unknown) => {
      writer = undefined; // the registry may be back next time
      throw err;
    });
    return writer;
  };

  app.addHook('onClose', async () => {
    await pool.end();
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, body, serverFault } = errorResponse(err);
    if (serverFault) request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    return reply.code(status).type('application/json').send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  app.post<{ Body: TrainingRequestBody }>('/sagas', { schema: { body: TRAINING_REQUEST_SCHEMA } }, async (request, reply) => {
    let sagaId: string;
    try {
      sagaId = await requestTraining(config, request.body, { writer: await outboxWriter() });
    } catch (err) {
      // A value the message contract refuses is the client's to fix.
      if (err instanceof MessageValidationError) throw new SagalineError('REQUEST_INVALID', err.message);
      throw err;
    }
    return reply.code(201).header('location', `/sagas/${encodeURIComponent(sagaId)}`).send({ sagaId });
  });

  app.get<{ Querystring: Record<string, unknown> }>('/sagas', async (request) => {
    const { state, limit } = parseListQuery(request.query);
    return { sagas: await listSagas(pool, state, limit) };
  });

  app.get<{ Params: { id: string } }>('/sagas/:id', async (request) => getSaga(pool, request.params.id));

  app.get<{ Params: { id: string } }>('/sagas/:id/events', async (request) => auditSaga(config, request.params.id, options.auditTimeoutMs ?? 60_000));

  // Delivery is judged from Postgres (slots, walsenders, heartbeats): null when it cannot be read.
  const delivery = (request: FastifyRequest) =>
    inspectDelivery(config, kafka).catch((err: unknown) => {
      request.log.warn({ err: (err as Error).message }, 'delivery could not be inspected');
      return null;
    });

  app.get('/health', async (request, reply) => {
    const [components, deliveries, processors] = await Promise.all([new Stack(config).status(), delivery(request), probeProcessors(config)]);
    const { httpStatus, report } = healthReport(components, deliveries, processors);
    return reply.code(httpStatus).send(report);
  });

  app.get('/metrics', async (request, reply) => {
    const bestEffort = <T>(what: string, work: Promise<T>) =>
      work.catch((err: unknown) => {
        request.log.warn({ err: (err as Error).message }, `metrics: ${what} left out of this scrape`);
        return undefined;
      });
    const [processors, sagas, lag, deliveries] = await Promise.all([
      probeProcessors(config),
      bestEffort('sagas per state', fetchSagaCounts(pool)),
      bestEffort('consumer lag', fetchConsumerLag(config, kafka)),
      delivery(request),
    ]);
    const registry = scrapeRegistry({ processors, ...(sagas ? { sagas } : {}), ...(lag ? { lag } : {}), ...(deliveries ? { delivery: deliveries } : {}) });
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  if (options.definedSagas) registerDefinedSagaRoutes(app, options.definedSagas);

  // The two-phase commit coordinator: /2pc/transactions…
  registerTwoPhaseCommitRoutes(app, config, options.twoPhaseCommitActions ?? {});

  return app;
}

/** Routes for a project's own sagas; the start message is checked against its Avro schema (a 400 naming the field). */
function registerDefinedSagaRoutes(app: Api, defined: DefinedSagas): void {
  const named = (name: string): SagaDefinition => {
    const saga = defined.sagas.filter((s) => s.name === name).sort((a, b) => b.version - a.version)[0];
    if (!saga) throw new SagalineError('SAGA_NOT_FOUND', `no saga definition ${JSON.stringify(name)} (defined: ${defined.sagas.map((s) => s.name).join(', ')})`);
    return saga;
  };
  app.post<{ Params: { name: string }; Body: { tenantId: string; sagaId?: string; payload: unknown } }>('/sagas/:name', { schema: { body: START_BODY_SCHEMA } }, async (request, reply) => {
    const saga = named(request.params.name);
    let sagaId: string;
    try {
      const client = await defined.client();
      sagaId = await client.start(saga, request.body.payload, { tenantId: request.body.tenantId, ...(request.body.sagaId ? { sagaId: request.body.sagaId } : {}) });
    } catch (err) {
      if (err instanceof MessageValidationError) throw new SagalineError('REQUEST_INVALID', err.message);
      throw err;
    }
    return reply.code(201).header('location', `/sagas/${encodeURIComponent(saga.name)}/${encodeURIComponent(sagaId)}`).send({ sagaId });
  });
  app.get<{ Params: { name: string; id: string } }>('/sagas/:name/:id', async (request) => {
    const saga = named(request.params.name);
    const record = await (await defined.client()).get(request.params.id);
    if (!record || record.saga !== saga.name) throw new SagalineError('SAGA_NOT_FOUND', `no ${saga.name} saga ${request.params.id} in the projection`);
    return record;
  });
}
