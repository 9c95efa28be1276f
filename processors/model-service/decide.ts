/**
 * model-service decisions: reserve the model (RESERVE), update it with the trained artifacts
 * (UPDATE); their compensations (revert the version, release the reservation); and the release
 * of the reservation when the saga completes. Pure.
 */
import { compensationDue, type SagaState } from '../saga/state.ts';
import { nothing, reply, simulation, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';

export interface ModelRow {
  modelId: string;
  tenantId: string;
  version: string;
  reservedBy: string | null;
}

export interface ModelFacts {
  model: ModelRow | null;
}

export type ModelCommand =
  | { kind: 'reserve'; modelId: string; sagaId: string; reservationId: string }
  | { kind: 'release'; modelId: string; sagaId: string }
  | { kind: 'update'; modelId: string; sagaId: string; fromVersion: string; toVersion: string; artifactsUri: string }
  | { kind: 'revert'; modelId: string; sagaId: string; toVersion: string };

/** v3 → v4; anything else gets a numeric suffix bumped or appended. */
export function nextVersion(version: string): string {
  const match = /^(.*?)(\d+)$/.exec(version);
  return match ? `${match[1]}${Number(match[2]) + 1}` : `${version}.1`;
}

export function reservationProblem(model: ModelRow | null, state: SagaState): string | undefined {
  if (!model || model.tenantId !== state.tenantId) return `model ${state.modelId} is not registered for tenant ${state.tenantId}`;
  if (model.reservedBy && model.reservedBy !== state.sagaId) return `model ${model.modelId} is already reserved by saga ${model.reservedBy}`;
  return undefined;
}

export function decide(state: SagaState, incoming: Incoming, facts: ModelFacts, ctx: DecisionContext): Decision<ModelCommand> {
  const d = nothing<ModelCommand>();
  const sim = simulation(state);
  const modelId = state.modelId ?? '';
  const sagaId = state.sagaId;

  // Forward steps are decided from the view, not from the message that arrived: topics interleave,
  // so the message that starts a step may be read before the request it depends on.
  if (state.status === 'InProgress' && state.steps.RESERVE.status === 'running') {
    if (sim?.hangAt === 'RESERVE') return d;
    const problem = sim?.failAt === 'RESERVE' ? 'simulated failure at RESERVE' : reservationProblem(facts.model, state);
    if (problem) {
      d.messages.push(reply(state, incoming, 'ModelReservationFailed', { sagaId, modelId, reason: problem }, ctx));
    } else {
      const reservationId = ctx.newId();
      d.commands.push({ kind: 'reserve', modelId, sagaId, reservationId });
      d.messages.push(reply(state, incoming, 'ModelReserved', { sagaId, modelId, reservationId }, ctx));
    }
    return d;
  }

  if (state.status === 'InProgress' && state.steps.UPDATE.status === 'running' && state.refs.modelBinaryUri !== null) {
    if (sim?.hangAt === 'UPDATE') return d;
    if (sim?.failAt === 'UPDATE' || !facts.model) {
      const reason = sim?.failAt === 'UPDATE' ? 'simulated failure at UPDATE' : `model ${modelId} no longer exists`;
      d.messages.push(reply(state, incoming, 'ModelUpdateFailed', { sagaId, modelId, reason }, ctx));
    } else {
      const toVersion = nextVersion(facts.model.version);
      d.commands.push({ kind: 'update', modelId, sagaId, fromVersion: facts.model.version, toVersion, artifactsUri: state.refs.modelBinaryUri });
      d.messages.push(reply(state, incoming, 'ModelUpdated', { sagaId, modelId, previousVersion: facts.model.version, newVersion: toVersion }, ctx));
    }
    return d;
  }

  if (state.status === 'Completed' && state.steps.RESERVE.status === 'succeeded' && !state.steps.RESERVE.released) {
    d.commands.push({ kind: 'release', modelId, sagaId });
    d.messages.push(reply(state, incoming, 'ModelReservationReleased', { sagaId, modelId, reservationId: state.refs.reservationId ?? '', reason: 'saga completed', compensation: false }, ctx));
    return d;
  }

  const due = compensationDue(state);
  if (due === 'UPDATE') {
    const applied = state.steps.UPDATE.status === 'succeeded' && state.refs.previousVersion !== null;
    const restoredVersion = applied ? (state.refs.previousVersion as string) : (facts.model?.version ?? '');
    if (applied) d.commands.push({ kind: 'revert', modelId, sagaId, toVersion: restoredVersion });
    const reason = applied ? `reverted to ${restoredVersion}: ${state.reason}` : `nothing to revert: ${state.reason}`;
    d.messages.push(reply(state, incoming, 'ModelUpdateReverted', { sagaId, modelId, restoredVersion, reason }, ctx));
  } else if (due === 'RESERVE') {
    const held = state.steps.RESERVE.status === 'succeeded';
    if (held) d.commands.push({ kind: 'release', modelId, sagaId });
    const reason = held ? `released: ${state.reason}` : `nothing reserved: ${state.reason}`;
    d.messages.push(reply(state, incoming, 'ModelReservationReleased', { sagaId, modelId, reservationId: state.refs.reservationId ?? '', reason, compensation: true }, ctx));
  }
  return d;
}
