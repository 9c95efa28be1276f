/**
 * The two-phase commit coordinator over HTTP: create a transaction, add participants, prepare,
 * commit, abort, read its status. The API process runs one coordinator (recovery on its start and
 * then periodically, so an undecided transaction never holds its participants' locks for longer
 * than the decision timeout).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { Coordinator, type CoordinatorOptions } from '../coordinator/engine.ts';
import type { ParticipantSpec, TransactionRecord } from '../coordinator/log.ts';
import { TERMINAL_TRANSACTION_STATES } from '../coordinator/states.ts';
import { actionNamed, type ActionRegistry } from '../coordinator/actions.ts';
import type { Api } from './server.ts';

const NAME = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' } as const;

const participantSchema = (actions: ActionRegistry) => ({
  type: 'object',
  additionalProperties: false,
  required: ['name', 'database', 'action', 'params'],
  properties: {
    name: NAME,
    database: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$' },
    // (An empty enum is not a schema: without actions, checkActions below refuses every participant.)
    action: Object.keys(actions).length > 0 ? { type: 'string', enum: Object.keys(actions) } : { type: 'string' },
    params: { type: 'object' },
  },
});

const createSchema = (actions: ActionRegistry) => ({
  type: 'object',
  additionalProperties: false,
  properties: {
    txId: NAME,
    operation: NAME,
    participants: { type: 'array', maxItems: 4, items: participantSchema(actions) },
  },
});

/** Our coordinator errors as HTTP statuses (the server's generic handler takes everything else). */
function statusFor(err: unknown): number | undefined {
  if (!(err instanceof SagalineError)) return undefined;
  if (err.code === 'NOT_FOUND') return 404;
  if (err.code === 'CONFLICT' || err.code === 'TRANSACTION_STATE' || err.code === 'INVALID_TRANSITION') return 409;
  if (err.code === 'REQUEST_INVALID') return 400;
  return undefined;
}

export function registerTwoPhaseCommitRoutes(app: Api, config: Config, actions: ActionRegistry, outbox?: CoordinatorOptions['outbox']): void {
  let coordinator: Promise<Coordinator> | undefined;
  const get = () => {
    coordinator ??= Coordinator.start(config, { log: app.log.child({ service: 'coordinator' }), actions, ...(outbox ? { outbox } : {}) }).catch((err: unknown) => {
      coordinator = undefined;
      throw err;
    });
    return coordinator;
  };
  const sweepEveryMs = Math.max(1_000, Math.floor(config.twoPhaseCommit.decisionTimeoutMs / 4));
  const sweeper = setInterval(() => {
    if (!coordinator) return;
    void coordinator.then((c) => c.recover()).catch((err: unknown) => app.log.warn({ err: (err as Error).message }, '2pc recovery sweep failed'));
  }, sweepEveryMs);
  sweeper.unref();

  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    if (coordinator) await (await coordinator.catch(() => undefined))?.close();
  });

  /** Refused before the coordinator is even started: an action nobody gave this API. */
  const checkActions = (participants: readonly ParticipantSpec[]): void => {
    participants.forEach((p, i) => actionNamed(actions, p.action, `participants[${i}].action`));
  };

  const handle = async (reply: FastifyReply, work: (c: Coordinator) => Promise<TransactionRecord>, okStatus = 200, participants: readonly ParticipantSpec[] = []) => {
    try {
      checkActions(participants);
      const tx = await work(await get());
      return reply.code(okStatus).send(tx);
    } catch (err) {
      const status = statusFor(err);
      if (status === undefined) throw err;
      return reply.code(status).send({ error: { code: (err as SagalineError).code, message: (err as Error).message } });
    }
  };

  app.post<{ Body: { txId?: string; operation?: string; participants?: ParticipantSpec[] } }>('/2pc/transactions', { schema: { body: createSchema(actions) } }, async (request, reply) => {
    const txId = request.body?.txId ?? `tx-${randomUUID()}`;
    reply.header('location', `/2pc/transactions/${encodeURIComponent(txId)}`);
    const participants = request.body?.participants ?? [];
    return handle(reply, (c) => c.create(txId, request.body?.operation ?? 'custom', participants), 201, participants);
  });

  app.post<{ Params: { id: string }; Body: ParticipantSpec }>('/2pc/transactions/:id/participants', { schema: { body: participantSchema(actions) } }, async (request, reply) =>
    handle(reply, (c) => c.addParticipant(request.params.id, request.body), 201, [request.body]),
  );

  app.post<{ Params: { id: string } }>('/2pc/transactions/:id/prepare', async (request, reply) => handle(reply, (c) => c.prepare(request.params.id)));

  // Phase 2 retries until every participant is done; the answer waits for it a while, then
  // reports the transaction as it stands (202 while still Committing or Aborting).
  const decideAndWait = async (reply: FastifyReply, id: string, decide: (c: Coordinator) => Promise<TransactionRecord>) => {
    try {
      const c = await get();
      const finished = decide(c);
      finished.catch(() => undefined);
      const waited = await Promise.race([finished, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), config.twoPhaseCommit.prepareTimeoutMs).unref())]);
      const tx = waited ?? (await c.status(id));
      return reply.code(TERMINAL_TRANSACTION_STATES.includes(tx.state) ? 200 : 202).send(tx);
    } catch (err) {
      const status = statusFor(err);
      if (status === undefined) throw err;
      return reply.code(status).send({ error: { code: (err as SagalineError).code, message: (err as Error).message } });
    }
  };

  app.post<{ Params: { id: string } }>('/2pc/transactions/:id/commit', async (request, reply) => decideAndWait(reply, request.params.id, (c) => c.commit(request.params.id)));
  app.post<{ Params: { id: string } }>('/2pc/transactions/:id/abort', async (request, reply) => decideAndWait(reply, request.params.id, (c) => c.abort(request.params.id)));
  app.get<{ Params: { id: string } }>('/2pc/transactions/:id', async (request, reply) => handle(reply, (c) => c.status(request.params.id)));
}
