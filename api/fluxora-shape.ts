/**
 * An instance as the Fluxora saga orchestrator's `GET /sagas/{id}` answers it (its design's shape:
 * saga and step states in capitals, each step's service and result, the current step, times in
 * seconds since the epoch), for clients written against that design. Pure.
 */
import type { SagaRecord } from '../processors/engine/client.ts';
import { definitionOfInstance, type SagaDefinition, type StepStatus } from '../processors/saga/define-saga.ts';
import { postedName } from '../processors/engine/posted-sagas.ts';
import type { InstanceStatus } from '../processors/saga/instance.ts';

export interface FluxoraSaga {
  saga_id: string;
  name: string;
  state: 'STARTED' | 'EXECUTING' | 'COMPENSATING' | 'COMPLETED' | 'FAILED';
  steps: { id: string; name: string; service_name: string; state: string; result: unknown }[];
  /** The step the saga is at: the first, in the definition's order, that neither succeeded nor was undone (the number of steps once all succeeded). */
  current_step_index: number;
  created_at: number;
  updated_at: number;
  /** sagaline's own status, which says more than FAILED (Compensated, Failed, Parked). */
  status: InstanceStatus;
  reason: string | null;
}

const SAGA_STATES: Record<InstanceStatus, FluxoraSaga['state']> = {
  Running: 'EXECUTING',
  Compensating: 'COMPENSATING',
  Completed: 'COMPLETED',
  Compensated: 'FAILED',
  Failed: 'FAILED',
  Parked: 'FAILED',
};

const STEP_STATES: Record<StepStatus, string> = {
  pending: 'PENDING',
  running: 'EXECUTING',
  succeeded: 'EXECUTED',
  failed: 'FAILED',
  compensating: 'COMPENSATING',
  compensated: 'COMPENSATED',
};

/** An HTTP step's result is the service's answer: its body, parsed when it is JSON. */
function resultOf(result: unknown): unknown {
  const r = result as { status?: unknown; body?: unknown; attempt?: unknown } | undefined;
  if (r && typeof r.status === 'number' && typeof r.body === 'string' && typeof r.attempt === 'number') {
    try {
      return JSON.parse(r.body);
    } catch {
      return r.body;
    }
  }
  return result ?? null;
}

/** `definition`: the version the instance runs under (a posted saga's steps are then read from its start message). */
export function fluxoraShape(declared: SagaDefinition, record: SagaRecord): FluxoraSaga {
  const definition = definitionOfInstance(declared, record.state.start.payload);
  const steps = definition.steps.map((step, i) => {
    const s = record.state.steps[step.name];
    return { id: `${record.sagaId}-step-${i}`, name: step.name, service_name: step.owner, state: STEP_STATES[s?.status ?? 'pending'], result: s?.status === 'succeeded' || s?.status === 'compensating' || s?.status === 'compensated' ? resultOf(s.result) : null };
  });
  const passed: readonly (StepStatus | undefined)[] = ['succeeded', 'compensating', 'compensated'];
  const current = definition.steps.findIndex((step) => !passed.includes(record.state.steps[step.name]?.status));
  const anyStarted = definition.steps.some((step) => (record.state.steps[step.name]?.status ?? 'pending') !== 'pending');
  return {
    saga_id: record.sagaId,
    // A posted saga answers with the name its requester gave it.
    name: (declared.perInstance && postedName(record.state)) || record.saga,
    state: record.status === 'Running' && !anyStarted ? 'STARTED' : SAGA_STATES[record.status],
    steps,
    current_step_index: current === -1 ? definition.steps.length : current,
    created_at: record.startedAt.getTime() / 1000,
    updated_at: record.updatedAt.getTime() / 1000,
    status: record.status,
    reason: record.state.reason ?? null,
  };
}
