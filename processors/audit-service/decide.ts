/**
 * audit-service decisions: append the completion to the append-only audit log (AUDIT). Entries are
 * immutable, so the step has no compensation; if the saga is compensated after its entry was
 * written (the audit answered after its deadline), a second entry records the reversal. Pure.
 */
import { nothing, reply, simulation, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';
import type { SagaState } from '../saga/state.ts';

export type AuditEntryKind = 'completed' | 'reverted';

export type AuditCommand = { kind: 'append'; entry: AuditEntryKind; auditId: string; sagaId: string; tenantId: string; modelId: string; version: string };

export interface AuditFacts {
  /** Entries already in the log for this saga. */
  entries: AuditEntryKind[];
}

export function decide(state: SagaState, incoming: Incoming, facts: AuditFacts, ctx: DecisionContext): Decision<AuditCommand> {
  const d = nothing<AuditCommand>();
  const compensated = state.status === 'Compensating' || state.status === 'Compensated';
  if (compensated && facts.entries.includes('completed') && !facts.entries.includes('reverted')) {
    d.commands.push({ kind: 'append', entry: 'reverted', auditId: ctx.newId(), sagaId: state.sagaId, tenantId: state.tenantId ?? '', modelId: state.modelId ?? '', version: state.refs.previousVersion ?? '' });
    return d;
  }
  if (state.status !== 'InProgress' || state.steps.AUDIT.status !== 'running' || facts.entries.length > 0 || state.refs.newVersion === null) return d;
  const sim = simulation(state);
  if (sim?.hangAt === 'AUDIT') return d;
  if (sim?.failAt === 'AUDIT') {
    d.messages.push(reply(state, incoming, 'AuditFailed', { sagaId: state.sagaId, reason: 'simulated failure at AUDIT' }, ctx));
    return d;
  }
  const auditId = ctx.newId();
  const version = state.refs.newVersion;
  d.commands.push({ kind: 'append', entry: 'completed', auditId, sagaId: state.sagaId, tenantId: state.tenantId ?? '', modelId: state.modelId ?? '', version });
  d.messages.push(reply(state, incoming, 'AuditLogged', { sagaId: state.sagaId, auditId }, ctx));
  return d;
}
