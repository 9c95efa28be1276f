/**
 * The HTTP API (`sagaline serve --config`): start any saga of the project, read instances from the
 * monitor's projection and their history from the event log, the stack's health, and Prometheus
 * metrics for the whole pipeline. JSON in and out; every error is `{"error":{"code","message"}}`.
 */
import { fluxoraShape } from './fluxora-shape.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { auditInstance } from '../audit/timeline.ts';
import { listDeadLetters, redriveDeadLetters } from '../audit/dead-letters.ts';
import { parkedMessages, resumeParked, skipParked, stuckSagas } from '../processors/engine/parked.ts';
import { kafkaClient, pgPool } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { MessageValidationError, SagalineError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { Stack } from '../infra/stack/stack.ts';
import { inspectDelivery } from '../outbox-connector/delivery-health.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import type { Project } from '../processors/engine/project.ts';
import { recordedInstances, processorPlan } from '../processors/supervisor.ts';
import { byName, sagaTopic, streamTopics } from '../topics/derived.ts';
import { TOPIC_PREFIX } from '../topics/catalogue.ts';
import { describeDefinition } from './definitions.ts';
import { errorResponse } from './errors.ts';
import { healthReport } from './health.ts';
import { fetchConsumerLag, fetchSagaCounts, probeProcessors, scrapeRegistry } from './metrics.ts';
import { parseListQuery, START_BODY_SCHEMA, type StartBody } from './requests.ts';
import type { ActionRegistry } from '../coordinator/actions.ts';
import { registerTwoPhaseCommitRoutes } from './two-phase-commit-routes.ts';
import type { SagaClient } from '../processors/engine/client.ts';
import { definitionOfInstance, type SagaDefinition } from '../processors/saga/define-saga.ts';
import { registerUi } from './ui.ts';
import { DEFAULT_POSTED_TENANT, parsePostedSaga, POSTED_SAGA, PostedSagaError, unknownServices } from '../processors/engine/posted-sagas.ts';
import { configuredServices } from '../processors/engine/service-registry.ts';
import { authenticate, bearerToken, type Principal } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as (api/tokens.ts); the operator when the API runs without tokens. */
    principal: Principal;
  }
}

/** Routes any caller may reach without a token: the probes (an orchestrator's, without credentials) and the UI's static files. */
const PUBLIC_ROUTES = new Set(['/health/live', '/health', '/ui', '/ui/', '/ui/index.html', '/ui/app.js', '/ui/style.css']);
/** Routes that need the operator role; every other route is open to a tenant's token, scoped to its tenant. */
const OPERATOR_ROUTES = new Set(['/parked', '/stuck', '/sagas/:id/resume', '/sagas/:id/skip', '/dead-letters/redrive', '/metrics']);
const needsOperator = (route: string) => OPERATOR_ROUTES.has(route) || route.startsWith('/2pc');
const OPERATOR: Principal = { tokenId: 'none', role: 'operator' };
/** The tenant a request is confined to, or undefined for the operator. */
const tenantOf = (request: FastifyRequest): string | undefined => (request.principal.role === 'tenant' ? request.principal.tenantId : undefined);

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
}

/** The project the API serves: its sagas, its processes (for health and metrics), and a client of its sagas. */
export interface ApiProject {
  project: Project;
  /** Made on first use (the registry may be down when the API starts). */
  client: () => Promise<SagaClient>;
}

/** The API's Fastify instance, logging through the project's pino logger. */
export type Api = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export function buildApi(config: Config, served: ApiProject, options: ApiOptions = {}): Api {
  const { project } = served;
  const names = [...byName(project.sagas).keys()];
  // The processes whose health and metrics the API gathers: as many instances as the last `processors up` started.
  const currentPlan = () => processorPlan(config, project, recordedInstances(config, project));
  const plan = processorPlan(config, project);
  const log = options.logger ?? createLogger(config, 'api');
  const app = Fastify({
    loggerInstance: log,
    logController: new OneLinePerRequest(),
    bodyLimit: 64 * 1024,
    // Saga ids may be 200 characters (Fastify's default refuses path parameters over 100).
    maxParamLength: 1_000,
    // Errors raised before routing (a path that is not valid percent-encoding, a parameter over the
    // limit) get the API's error shape like every other refusal, not Fastify's own.
    frameworkErrors: (err, request, reply) => {
      const { status, body } = errorResponse(err);
      request.log.info({ method: request.method, url: request.url, status, code: (err as { code?: string }).code }, 'request refused before routing');
      return (reply as unknown as FastifyReply).code(status).type('application/json').send(body);
    },
    // Strict bodies: no silently dropped properties, no "42" accepted for a string; `verbose` lets
    // the error name the offending value.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, verbose: true } },
  });
  const pool = pgPool(config, SAGAS_DATABASE, 4, (err) => log.warn({ err: err.message }, 'idle database connection lost; the pool reconnects on demand'));
  const kafka = kafkaClient(config, 'sagaline-api', { connectionTimeout: 3_000, retry: { retries: 1 } });
  // The groups whose lag /metrics reports: each process's groups, on its saga topics.
  const topicOfGroup = new Map<string, string>();
  for (const versions of byName(project.sagas).values()) {
    const topic = sagaTopic(versions).name;
    for (const p of project.participants.filter((x) => x.saga.name === versions[0]!.name)) topicOfGroup.set(`sagaline-${p.saga.name}-${p.service}`, topic);
  }
  const lagGroups = plan.flatMap((p) => p.groups).map((group) => ({ group, topics: [topicOfGroup.get(group) ?? sagaTopic(project.sagas.filter((s) => `sagaline-monitor.${s.name}` === group)).name] }));
  const named = (name: string): SagaDefinition => {
    const saga = project.sagas.filter((s) => s.name === name).sort((a, b) => b.version - a.version)[0];
    if (!saga) throw new SagalineError('SAGA_NOT_FOUND', `no saga definition ${JSON.stringify(name)} (defined: ${names.join(', ')})`);
    return saga;
  };

  app.addHook('onClose', async () => {
    await pool.end();
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, body, serverFault } = errorResponse(err);
    if (serverFault) request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    return reply.code(status).type('application/json').send(body);
  });

  // Postgres text cannot hold a NUL character: a path parameter or query value with one is refused
  // here, naming it, before any route reads or writes with it.
  app.addHook('onRequest', async (request) => {
    for (const [where, values] of [['path parameter', request.params], ['query parameter', request.query]] as const) {
      for (const [name, value] of Object.entries((values ?? {}) as Record<string, unknown>)) {
        if ([value].flat().some((v) => typeof v === 'string' && v.includes('\u0000'))) {
          throw new SagalineError('REQUEST_INVALID', `${where} ${name} contains a NUL character (\\u0000), which cannot be stored`);
        }
      }
    }
  });

  // Who is asking: every route but the public ones needs a live token (Authorization: Bearer), and
  // the operator's routes the operator role. The token is looked up on every request, so a revoked
  // one fails at once; it is never logged (the request log has the method, path and status only).
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || PUBLIC_ROUTES.has(route)) return; // unknown routes are the 404 handler's
    if (config.api.auth === 'none') {
      request.principal = OPERATOR;
      return;
    }
    const bearer = bearerToken(request.headers.authorization);
    if ('refused' in bearer) throw new SagalineError('UNAUTHENTICATED', bearer.refused);
    const principal = await authenticate(pool, bearer.token);
    if (!principal) throw new SagalineError('UNAUTHENTICATED', 'the bearer token is unknown or revoked');
    request.principal = principal;
    if (needsOperator(route) && principal.role !== 'operator') throw new SagalineError('FORBIDDEN', `${request.method} ${route} needs an operator token; this token is for tenant ${JSON.stringify(tenantOf(request))}`);
  });
  // A tenant's token names its tenant: any other tenant it asks for is refused.
  const tenantFor = (request: FastifyRequest, asked: unknown): unknown => {
    const own = tenantOf(request);
    if (own === undefined || asked === undefined) return asked ?? own;
    if (asked !== own) throw new SagalineError('FORBIDDEN', `this token is for tenant ${JSON.stringify(own)}; it cannot act for tenant ${JSON.stringify(asked)}`);
    return own;
  };
  // An instance as the request may see it: another tenant's saga is not found, exactly as a missing one.
  const visible = <T extends { tenantId: string }>(request: FastifyRequest, record: T | null | undefined): T | null => {
    const own = tenantOf(request);
    return record && (own === undefined || record.tenantId === own) ? record : null;
  };
  const seeInstance = async (request: FastifyRequest, sagaId: string): Promise<void> => {
    if (tenantOf(request) === undefined) return;
    if (!visible(request, await (await served.client()).get(sagaId))) throw new SagalineError('SAGA_NOT_FOUND', `no saga ${sagaId} in the projection`);
  };

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  app.post<{ Params: { name: string }; Body: StartBody }>('/sagas/:name', { schema: { body: START_BODY_SCHEMA } }, async (request, reply) => {
    const saga = named(request.params.name);
    const tenantId = tenantFor(request, request.body.tenantId);
    if (tenantId === undefined) throw new SagalineError('REQUEST_INVALID', 'tenantId is required');
    let sagaId: string;
    try {
      const client = await served.client();
      sagaId = await client.start(saga, request.body.payload, { tenantId: tenantId as string, ...(request.body.sagaId ? { sagaId: request.body.sagaId } : {}) });
    } catch (err) {
      // A value the message contract refuses is the client's to fix.
      if (err instanceof MessageValidationError) throw new SagalineError('REQUEST_INVALID', err.message);
      throw err;
    }
    return reply.code(201).header('location', `/sagas/${encodeURIComponent(sagaId)}`).send({ sagaId, saga: saga.name, version: saga.version });
  });

  app.get<{ Querystring: Record<string, unknown> }>('/sagas', async (request) => {
    const query = parseListQuery(request.query, names);
    const tenantId = tenantFor(request, query.tenantId) as string | undefined;
    return (await served.client()).page({ ...query, ...(tenantId === undefined ? {} : { tenantId }) });
  });

  // Sagas posted as data, in the Fluxora orchestrator's shape or the typed one (processors/engine/posted-sagas.ts).
  const registry = configuredServices(config);
  app.post<{ Body: unknown }>('/sagas', { bodyLimit: 1024 * 1024 }, async (request, reply) => {
    const saga = project.sagas.find((s) => s.name === POSTED_SAGA);
    if (!saga) throw new SagalineError('SAGA_NOT_FOUND', `this config module runs no posted sagas: add postedSagas to its sagas and postedSagaRunner() to its participants (it defines ${names.join(', ')})`);
    const body = request.body as Record<string, unknown> | null;
    const known = ['name', 'steps', 'tenantId', 'tenant_id', 'sagaId', 'saga_id'];
    const extra = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter((k) => !known.includes(k)) : [];
    if (extra.length > 0) throw new SagalineError('REQUEST_INVALID', `${extra.join(', ')} is not a known field (known: ${known.join(', ')})`);
    const posted = parsePostedSaga(body);
    const tenantId = tenantFor(request, body?.tenantId ?? body?.tenant_id) ?? DEFAULT_POSTED_TENANT;
    const sagaId = body?.sagaId ?? body?.saga_id;
    if (typeof tenantId !== 'string' || tenantId === '' || tenantId.length > 200) throw new SagalineError('REQUEST_INVALID', `tenantId must be a non-empty string of at most 200 characters, got ${JSON.stringify(tenantId)}`);
    if (sagaId !== undefined && (typeof sagaId !== 'string' || sagaId === '' || sagaId.length > 200)) throw new SagalineError('REQUEST_INVALID', `sagaId must be a non-empty string of at most 200 characters, got ${JSON.stringify(sagaId)}`);
    // Every service must be one the registry knows now; a registry that cannot answer is a 503.
    const unknown = await unknownServices(posted, registry);
    if (unknown.length > 0) throw new PostedSagaError(unknown);
    let id: string;
    try {
      id = await (await served.client()).start(saga, posted, { tenantId, ...(sagaId ? { sagaId } : {}) });
    } catch (err) {
      if (err instanceof MessageValidationError) throw new SagalineError('REQUEST_INVALID', err.message);
      throw err;
    }
    // 200 with saga_id and state, as the design's clients expect.
    return reply.code(200).header('location', `/sagas/${encodeURIComponent(id)}`).send({ saga_id: id, state: 'STARTED', sagaId: id, name: posted.name });
  });

  // `?shape=fluxora`: as the Fluxora saga orchestrator's design answers it (api/fluxora-shape.ts); a posted saga answers so by default (`?shape=record` for the record).
  app.get<{ Params: { id: string }; Querystring: { shape?: unknown } }>('/sagas/:id', async (request) => {
    const shape = request.query.shape;
    if (shape !== undefined && shape !== 'fluxora' && shape !== 'record') throw new SagalineError('REQUEST_INVALID', `shape must be fluxora or record (or left out), got ${JSON.stringify(shape)}`);
    const record = visible(request, await (await served.client()).get(request.params.id));
    if (!record || !names.includes(record.saga)) throw new SagalineError('SAGA_NOT_FOUND', `no saga ${request.params.id} in the projection`);
    if (shape === 'record' || (shape === undefined && record.saga !== POSTED_SAGA)) return record;
    return fluxoraShape(project.sagas.find((s) => s.name === record.saga && s.version === record.version) ?? named(record.saga), record);
  });

  // The same, scoped to one saga: a 404 unless the instance is of that saga.
  app.get<{ Params: { name: string; id: string } }>('/sagas/:name/:id', async (request) => {
    const saga = named(request.params.name);
    const record = visible(request, await (await served.client()).get(request.params.id));
    if (!record || record.saga !== saga.name) throw new SagalineError('SAGA_NOT_FOUND', `no ${saga.name} saga ${request.params.id} in the projection`);
    return record;
  });

  // Definitions, to draw: every version the project defines, and the one an instance runs under.
  app.get('/definitions', async () => ({
    definitions: [...project.sagas].sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version).map(describeDefinition),
  }));
  app.get<{ Params: { id: string } }>('/sagas/:id/definition', async (request) => {
    const record = visible(request, await (await served.client()).get(request.params.id));
    const saga = record && project.sagas.find((s) => s.name === record.saga && s.version === record.version);
    if (!record || !saga) throw new SagalineError('SAGA_NOT_FOUND', `no saga ${request.params.id} in the projection`);
    return describeDefinition(definitionOfInstance(saga, record.state.start.payload));
  });

  app.get<{ Params: { id: string } }>('/sagas/:id/events', async (request) => {
    await seeInstance(request, request.params.id);
    return auditInstance(config, project, request.params.id, options.auditTimeoutMs ?? 60_000);
  });

  // Operator actions on one instance, recorded in its log (processors/engine/client.ts): 409 ACTION_REFUSED when its state does not allow it.
  const ACTION_BODY = { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 }, by: { type: 'string', minLength: 1, maxLength: 200 } } };
  for (const action of ['cancel', 'retry'] as const) {
    app.post<{ Params: { id: string }; Body: { reason: string; by?: string } }>(`/sagas/:id/${action}`, { schema: { body: ACTION_BODY } }, async (request, reply) => {
      await seeInstance(request, request.params.id);
      const client = await served.client();
      const taken = await client[action](request.params.id, { reason: request.body.reason, by: request.body.by ?? 'http-api' });
      return reply.code(202).send(taken);
    });
  }

  // Messages a participant parked, and stuck sagas (processors/engine/parked.ts).
  app.get<{ Querystring: Record<string, unknown> }>('/parked', async (request) => {
    const q = request.query;
    const extra = Object.keys(q).filter((k) => !['service', 'saga'].includes(k));
    if (extra.length > 0) throw new SagalineError('REQUEST_INVALID', `${extra.join(', ')} is not a filter of /parked (filters: service, saga)`);
    for (const k of ['service', 'saga'] as const) if (q[k] !== undefined && (typeof q[k] !== 'string' || q[k] === '')) throw new SagalineError('REQUEST_INVALID', `${k} must be given once, as non-empty text`);
    return { parked: await parkedMessages(config, project, { ...(q.service ? { service: q.service as string } : {}), ...(q.saga ? { sagaId: q.saga as string } : {}) }) };
  });
  app.get('/stuck', async () => ({ stuck: await stuckSagas(config, project) }));
  const PARKED_ACTION_BODY = { type: 'object', additionalProperties: false, required: ['service', 'reason'], properties: { service: { type: 'string', minLength: 1, maxLength: 200 }, reason: { type: 'string', minLength: 1, maxLength: 1000 }, by: { type: 'string', minLength: 1, maxLength: 200 } } };
  for (const [action, run] of [['resume', resumeParked], ['skip', skipParked]] as const) {
    app.post<{ Params: { id: string }; Body: { service: string; reason: string; by?: string } }>(`/sagas/:id/${action}`, { schema: { body: PARKED_ACTION_BODY } }, async (request, reply) => {
      const b = request.body;
      return reply.code(202).send(await run(config, project, request.params.id, b.service, { reason: b.reason, by: b.by ?? 'http-api' }));
    });
  }

  // One entry per record that could not be handled, with the groups that failed on it (audit/dead-letters.ts).
  app.get<{ Querystring: Record<string, unknown> }>('/dead-letters', async (request) => {
    const q = request.query;
    const extra = Object.keys(q).filter((k) => !['topic', 'saga', 'error'].includes(k));
    if (extra.length > 0) throw new SagalineError('REQUEST_INVALID', `${extra.join(', ')} is not a filter of /dead-letters (filters: topic, saga, error)`);
    for (const k of ['topic', 'saga', 'error'] as const) {
      if (q[k] !== undefined && (typeof q[k] !== 'string' || q[k] === '')) throw new SagalineError('REQUEST_INVALID', `${k} must be given once, as non-empty text`);
    }
    const topic = q.topic as string | undefined;
    const filter = {
      ...(topic ? { topic: topic.startsWith(TOPIC_PREFIX) ? topic : `${TOPIC_PREFIX}${topic}` } : {}),
      ...(q.saga ? { sagaId: q.saga as string } : {}),
      ...(q.error ? { error: q.error as string } : {}),
    };
    const deadLetters = await listDeadLetters(config, project, filter, options.auditTimeoutMs ?? 60_000);
    // A tenant sees the dead letters of its own sagas only.
    const own = tenantOf(request);
    return { deadLetters: own === undefined ? deadLetters : deadLetters.filter((d) => d.saga?.tenantId === own) };
  });

  // Back to the groups that failed, once; refused (409) for an ended saga or a second redrive unless forced.
  app.post<{ Body: { positions: string[]; reason: string; by?: string; force?: boolean } }>(
    '/dead-letters/redrive',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['positions', 'reason'],
          properties: {
            positions: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 500 } },
            reason: { type: 'string', minLength: 1, maxLength: 1000 },
            by: { type: 'string', minLength: 1, maxLength: 200 },
            force: { type: 'boolean' },
          },
        },
      },
    },
    async (request) => {
      const b = request.body;
      return { redriven: await redriveDeadLetters(config, project, b.positions, { reason: b.reason, by: b.by ?? 'http-api', ...(b.force ? { force: true } : {}), timeoutMs: options.auditTimeoutMs ?? 60_000 }) };
    },
  );

  // Delivery is judged from Postgres (slots, walsenders, heartbeats): null when it cannot be read.
  const delivery = (request: FastifyRequest) =>
    inspectDelivery(config, kafka).catch((err: unknown) => {
      request.log.warn({ err: (err as Error).message }, 'delivery could not be inspected');
      return null;
    });

  // Liveness only: the process answers (for probes that must not restart it over an outage elsewhere).
  app.get('/health/live', async () => ({ status: 'up' }));

  app.get('/health', async (request, reply) => {
    const [components, deliveries, processors] = await Promise.all([new Stack(config).status(), delivery(request), probeProcessors(currentPlan())]);
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
      probeProcessors(currentPlan()),
      bestEffort('sagas per status', fetchSagaCounts(pool, names)),
      bestEffort('consumer lag', fetchConsumerLag(config, kafka, lagGroups)),
      delivery(request),
    ]);
    const registry = scrapeRegistry({ processors, ...(sagas ? { sagas } : {}), ...(lag ? { lag } : {}), ...(deliveries ? { delivery: deliveries } : {}) });
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  // The web UI: static files under /ui, reading the routes above.
  registerUi(app);

  // The two-phase commit coordinator: /2pc/transactions…
  registerTwoPhaseCommitRoutes(app, config, options.twoPhaseCommitActions ?? {}, { schemas: project.schemas, topics: streamTopics(project.streams) });

  return app;
}

