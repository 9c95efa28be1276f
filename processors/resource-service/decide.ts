/**
 * resource-service decisions: allocate compute from a finite pool (ALLOCATE), release it as a
 * compensation or when the saga completes. Pure.
 */
import type { ResourceRequirements } from '../../schemas/generated.ts';
import { nothing, reply, simulation, type Decision, type DecisionContext, type Incoming } from '../saga/decision.ts';
import { compensationDue, type SagaState } from '../saga/state.ts';

export interface Capacity {
  cpuCores: number;
  memoryGb: number;
  gpuCount: number;
  storageGb: number;
}

export interface ResourceFacts {
  /** What is free in the pool now. */
  free: Capacity;
}

export type ResourceCommand =
  | { kind: 'allocate'; sagaId: string; allocationId: string; resources: ResourceRequirements; computeNodes: string[] }
  | { kind: 'release'; sagaId: string };

/** Names of the requests that exceed what is free, e.g. ["gpuCount 4 > 2 free"]. */
export function shortfall(wanted: ResourceRequirements, free: Capacity): string[] {
  return (['cpuCores', 'memoryGb', 'gpuCount', 'storageGb'] as const)
    .filter((k) => wanted[k] > free[k])
    .map((k) => `${k} ${wanted[k]} > ${free[k]} free`);
}

export function decide(state: SagaState, incoming: Incoming, facts: ResourceFacts, ctx: DecisionContext): Decision<ResourceCommand> {
  const d = nothing<ResourceCommand>();
  const sagaId = state.sagaId;
  const sim = simulation(state);

  if (state.status === 'InProgress' && state.steps.ALLOCATE.status === 'running' && state.request) {
    if (sim?.hangAt === 'ALLOCATE') return d;
    const missing = shortfall(state.request.resources, facts.free);
    const problem = sim?.failAt === 'ALLOCATE' ? 'simulated failure at ALLOCATE' : missing.length > 0 ? `not enough free compute: ${missing.join(', ')}` : undefined;
    if (problem) {
      d.messages.push(reply(state, incoming, 'ResourceAllocationFailed', { sagaId, reason: problem }, ctx));
    } else {
      const allocationId = ctx.newId();
      const nodes = Math.max(1, Math.ceil(state.request.resources.cpuCores / 8));
      const computeNodes = Array.from({ length: nodes }, (_, i) => `node-${allocationId.slice(0, 8)}-${i + 1}`);
      d.commands.push({ kind: 'allocate', sagaId, allocationId, resources: state.request.resources, computeNodes });
      d.messages.push(reply(state, incoming, 'ResourcesAllocated', { sagaId, allocationId, computeNodes }, ctx));
    }
    return d;
  }

  if (state.status === 'Completed' && state.steps.ALLOCATE.status === 'succeeded' && !state.steps.ALLOCATE.released) {
    d.commands.push({ kind: 'release', sagaId });
    d.messages.push(reply(state, incoming, 'ResourcesReleased', { sagaId, allocationId: state.refs.allocationId ?? '', reason: 'saga completed', compensation: false }, ctx));
    return d;
  }

  if (compensationDue(state) === 'ALLOCATE') {
    const held = state.steps.ALLOCATE.status === 'succeeded';
    if (held) d.commands.push({ kind: 'release', sagaId });
    const reason = held ? `released: ${state.reason}` : `nothing allocated: ${state.reason}`;
    d.messages.push(reply(state, incoming, 'ResourcesReleased', { sagaId, allocationId: state.refs.allocationId ?? '', reason, compensation: true }, ctx));
  }
  return d;
}
