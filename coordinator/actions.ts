/**
 * What a two-phase commit participant does in phase 1. The coordinator knows actions only through
 * the registry it is given (`Coordinator.start(config, { actions })`); each operation's actions
 * live with the operation.
 */
import type pg from 'pg';
import type { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { SagalineError } from '../core/errors.ts';

export interface ActionContext {
  txId: string;
  params: Record<string, unknown>;
  writer: OutboxWriter;
}

export type ActionResult = { vote: 'yes' } | { vote: 'no'; reason: string };

/** The work of one participant in phase 1, inside an open transaction of its database. */
export interface ParticipantAction {
  /** Idempotent DDL the action needs, run outside the transaction before it. */
  ddl: readonly string[];
  /** The message types it may write to its outbox (the coordinator's writer is opened for the topics that carry them). */
  writes: readonly string[];
  run(client: pg.ClientBase, ctx: ActionContext): Promise<ActionResult>;
}

/** Actions by the name a participant names them with. */
export type ActionRegistry = Readonly<Record<string, ParticipantAction>>;

/** The action a participant names, or a REQUEST_INVALID error naming it and the known ones. */
export function actionNamed(actions: ActionRegistry, name: string, where = 'action'): ParticipantAction {
  if (Object.hasOwn(actions, name)) return actions[name] as ParticipantAction;
  const known = Object.keys(actions);
  throw new SagalineError('REQUEST_INVALID', `${where}: unknown participant action "${name}" (known: ${known.length > 0 ? known.join(', ') : 'none: no two-phase commit actions were given'})`);
}
