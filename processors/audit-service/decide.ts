/** audit-service decisions: append the completion to the append-only audit log (AUDIT). No compensation: entries are immutable. Pure. */
import { nothing, reply, simulation, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';
import type { SagaState } from '../saga/state.ts';

export type AuditCommand = { kind: 'append'; auditId: string; sagaId: string; tenantId: string; modelId: string; version: string };

export function decide(state: SagaState, incoming: Incoming, ctx: DecisionContext): Decision<AuditCommand> {
  const d = nothing<AuditCommand>();
  if (incoming.type !== 'ModelUpdated' || state.status !== 'InProgress' || state.steps.AUDIT.status !== 'running') return d;
  const sim = simulation(state);
  if (sim?.hangAt === 'AUDIT') return d;
  if (sim?.failAt === 'AUDIT') {
    d.messages.push(reply(state, incoming, 'AuditFailed', { sagaId: state.sagaId, reason: 'simulated failure at AUDIT' }, ctx));
    return d;
  }
  const auditId = ctx.newId();
  const version = (incoming.payload as { newVersion: string }).newVersion;
  d.commands.push({ kind: 'append', auditId, sagaId: state.sagaId, tenantId: state.tenantId ?? '', modelId: state.modelId ?? '', version });
  d.messages.push(reply(state, incoming, 'AuditLogged', { sagaId: state.sagaId, auditId }, ctx));
  return d;
}
