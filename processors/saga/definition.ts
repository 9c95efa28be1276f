/**
 * The ML model training saga, as one table: each forward step beside its compensation, its owner,
 * its retry limit and its deadline. Pure data; everything else reads it.
 */
import type { MessageType, Step } from '../../schemas/generated.ts';

export type ServiceName = 'model-service' | 'resource-service' | 'training-service' | 'audit-service';
export const SERVICE_NAMES: readonly ServiceName[] = ['model-service', 'resource-service', 'training-service', 'audit-service'];

export interface StepDefinition {
  step: Step;
  service: ServiceName;
  /** The message after which this step runs (the request, or the previous step's success). */
  startedBy: MessageType;
  succeeded: MessageType;
  failed: MessageType;
  /** The message of its compensation; null when the step cannot be undone (audit entries are immutable). */
  compensated: MessageType | null;
  /** Attempts after a transient failure before the step counts as failed. */
  retryLimit: number;
  /** Default deadline; configurable (SAGALINE_DEADLINE_<STEP>_MS). */
  deadlineMs: number;
}

export const STEPS: readonly StepDefinition[] = [
  { step: 'RESERVE', service: 'model-service', startedBy: 'TrainingRequested', succeeded: 'ModelReserved', failed: 'ModelReservationFailed', compensated: 'ModelReservationReleased', retryLimit: 3, deadlineMs: 5_000 },
  { step: 'ALLOCATE', service: 'resource-service', startedBy: 'ModelReserved', succeeded: 'ResourcesAllocated', failed: 'ResourceAllocationFailed', compensated: 'ResourcesReleased', retryLimit: 2, deadlineMs: 30_000 },
  { step: 'TRAIN', service: 'training-service', startedBy: 'ResourcesAllocated', succeeded: 'TrainingCompleted', failed: 'TrainingFailed', compensated: 'TrainingCancelled', retryLimit: 1, deadlineMs: 3_600_000 },
  { step: 'UPDATE', service: 'model-service', startedBy: 'TrainingCompleted', succeeded: 'ModelUpdated', failed: 'ModelUpdateFailed', compensated: 'ModelUpdateReverted', retryLimit: 3, deadlineMs: 10_000 },
  { step: 'AUDIT', service: 'audit-service', startedBy: 'ModelUpdated', succeeded: 'AuditLogged', failed: 'AuditFailed', compensated: null, retryLimit: 3, deadlineMs: 5_000 },
];

export function stepDefinition(step: Step): StepDefinition {
  return STEPS.find((s) => s.step === step) as StepDefinition;
}

export function stepIndex(step: Step): number {
  return STEPS.findIndex((s) => s.step === step);
}

/** The step a message reports on (success, failure or compensation), if any. */
export function stepOfMessage(type: MessageType): { step: Step; kind: 'succeeded' | 'failed' | 'compensated' } | undefined {
  for (const s of STEPS) {
    if (s.succeeded === type) return { step: s.step, kind: 'succeeded' };
    if (s.failed === type) return { step: s.step, kind: 'failed' };
    if (s.compensated === type) return { step: s.step, kind: 'compensated' };
  }
  return undefined;
}

export type Deadlines = Record<Step, number>;
export const DEFAULT_DEADLINES_MS: Deadlines = Object.fromEntries(STEPS.map((s) => [s.step, s.deadlineMs])) as Deadlines;
