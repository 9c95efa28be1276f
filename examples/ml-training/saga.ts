/**
 * The ML model training saga, as data: reserve the model → allocate compute → train → update the
 * model → audit. Each step is undone in reverse order when a later one fails; there is no pivot,
 * so even the audit entry is reverted (by a second, append-only entry). Retry limits are the
 * design's: reserve 3, allocate 2, train 1, update 3, audit 3.
 */
import { defineSaga, type SagaDefinition } from '../../index.ts';
import { DEFAULT_SETTINGS, type TrainingStep } from './settings.ts';

export const TRAINING_SAGA = 'model-training';

export function trainingSaga(deadlinesMs: Record<TrainingStep, number> = DEFAULT_SETTINGS.deadlinesMs): SagaDefinition {
  return defineSaga({
    name: TRAINING_SAGA,
    version: 1,
    startedBy: 'TrainingRequested',
    steps: {
      RESERVE: { owner: 'model-service', succeeded: 'ModelReserved', failed: 'ModelReservationFailed', compensatedBy: 'ModelReservationReleased', retry: { limit: 3 }, deadlineMs: deadlinesMs.RESERVE },
      ALLOCATE: { owner: 'resource-service', after: ['RESERVE'], succeeded: 'ResourcesAllocated', failed: 'ResourceAllocationFailed', compensatedBy: 'ResourcesReleased', retry: { limit: 2 }, deadlineMs: deadlinesMs.ALLOCATE },
      TRAIN: { owner: 'training-service', after: ['ALLOCATE'], succeeded: 'TrainingCompleted', failed: 'TrainingFailed', compensatedBy: 'TrainingCancelled', retry: { limit: 1 }, deadlineMs: deadlinesMs.TRAIN },
      UPDATE: { owner: 'model-service', after: ['TRAIN'], succeeded: 'ModelUpdated', failed: 'ModelUpdateFailed', compensatedBy: 'ModelUpdateReverted', retry: { limit: 3 }, deadlineMs: deadlinesMs.UPDATE },
      AUDIT: { owner: 'audit-service', after: ['UPDATE'], succeeded: 'AuditLogged', failed: 'AuditFailed', compensatedBy: 'AuditReverted', retry: { limit: 3 }, deadlineMs: deadlinesMs.AUDIT },
    },
  });
}
